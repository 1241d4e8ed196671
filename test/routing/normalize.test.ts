import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from '../../src/routing/normalize.ts';

describe('normalizePath', () => {
  const cases: [input: string, output: string][] = [
    // ESPv2 reference rows 19-20 (Envoy defaults).
    ['/echo/%4A/path/', '/echo/J/path/'],
    ['/echo/12%2F3/path/', '/echo/12%2F3/path/'],
    ['/echo/123/../123/path/', '/echo/123/path/'],
    ['/echo/123/path//', '/echo/123/path/'],
    // Unreserved escapes decoded, hex case-insensitive.
    ['/%41%5a%61%7A%30%39%2D%2E%5F%7E', '/AZaz09-._~'],
    ['/%2e/x', '/x'],
    ['/%7e%7E', '/~~'],
    // Everything else kept exactly as written.
    ['/a%2Fb/c%2fd', '/a%2Fb/c%2fd'],
    ['/a%20b', '/a%20b'],
    ['/%3A%3a%40%25%2525', '/%3A%3a%40%25%2525'],
    ['/%C3%A9t%C3%A9', '/%C3%A9t%C3%A9'],
    // Backslashes are separators (Envoy: `/a/..\\c` → `/c`); an escaped one is data (`/%5c%25` kept).
    ['/a/..\\c', '/c'],
    ['/public/x\\..\\..\\admin', '/admin'],
    ['/files/..\\admin', '/admin'],
    ['/\\\\a\\b\\', '/a/b/'],
    ['/a\\.\\b', '/a/b'],
    ['/%5c%25', '/%5c%25'],
    ['/a/..%5Cb', '/a/..%5Cb'],
    ['/a%5C..%5C..%5Cadmin', '/a%5C..%5C..%5Cadmin'],
    // Dot segments.
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/b/../../..', '/'],
    ['/..', '/'],
    ['/.', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/../../b', '/b'],
    ['/%2e%2e/%2E%2e/x', '/x'],
    ['/a/%2E%2E/b', '/b'],
    ['/a/.%2E/b', '/b'],
    ['/a/%2e./b', '/b'],
    ['/a/%2F../b', '/a/%2F../b'],
    ['/a/..%2F/b', '/a/..%2F/b'],
    ['/a/.../b', '/a/.../b'],
    ['/a/.b/..c/b.', '/a/.b/..c/b.'],
    ['/.well-known/x', '/.well-known/x'],
    // Slashes merged after dot segments, trailing slash kept.
    ['//', '/'],
    ['///a///b///', '/a/b/'],
    ['/a//../b', '/a/b'],
    ['//../a', '/a'],
    ['/a/./', '/a/'],
    ['/a/b//./c', '/a/b/c'],
    // Colons and other characters are not touched.
    ['/v1/items/abc:cancel', '/v1/items/abc:cancel'],
    ['/a;b=c,d', '/a;b=c,d'],
  ];
  for (const [input, output] of cases) {
    test(`${input} → ${output}`, () => {
      assert.equal(normalizePath(input), output);
    });
  }

  test('not origin-form: null', () => {
    assert.equal(normalizePath(''), null);
    assert.equal(normalizePath('*'), null);
    assert.equal(normalizePath('a/b'), null);
    assert.equal(normalizePath('http://example.com/a'), null);
    assert.equal(normalizePath('%2Fa'), null);
  });

  test('%00 and malformed escapes: null (refused 400), as Envoy refuses `/xyz/.%00../abc`', () => {
    for (const p of [
      '/xyz/.%00../abc',
      '/xyz/%00.%00./abc',
      '/xyz/AAAAA%%0000/abc',
      '/a%00',
      '/%',
      '/a%',
      '/a%4',
      '/%zz',
      '/%4g/x',
      '/%g4/x',
      '/%%41',
      '/public/%%32%65%%32%65/admin',
      '/a\\%zz',
    ]) {
      assert.equal(normalizePath(p), null, p);
    }
  });

  test('fast path returns the very same string', () => {
    for (const p of ['/', '/a/b/c', '/v1/shelves/1/books:cancel', '/a/b/', '/a.b/c..d']) {
      assert.equal(normalizePath(p), p);
    }
  });

  test('idempotent', () => {
    for (const [input] of cases) {
      const once = normalizePath(input)!;
      assert.equal(normalizePath(once), once, input);
    }
  });

  test('very long paths', () => {
    const deep = '/a'.repeat(200_000);
    assert.equal(normalizePath(deep), deep);
    assert.equal(normalizePath('/..'.repeat(100_000) + '/x'), '/x');
    assert.equal(normalizePath('/'.repeat(100_000) + 'x' + '/'.repeat(100_000)), '/x/');
    assert.equal(normalizePath('/%41'.repeat(100_000)), '/A'.repeat(100_000));
    assert.equal(normalizePath('/%'.repeat(100_000)), null);
    assert.equal(normalizePath('/a\\..'.repeat(100_000) + '\\x'), '/x');
    const mixed = '/x/y'.repeat(50_000) + '/..'.repeat(50_000);
    assert.equal(normalizePath(mixed), '/x/y'.repeat(25_000) + '/');
  });
});
