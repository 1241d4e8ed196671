// Templates ESPv2 accepts with `**` followed by further segments or a verb, and the route order its
// sort rules give: vectors from src/go/util/httppattern/sort_test.go and uri_template_parser_test.go.
// The expected winner for each path is computed the way Envoy picks it: the first route, in ESPv2's
// sorted order, whose regex (uri_template.go Regex()) matches.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/routing/router.ts';
import { parseTemplate, type PathTemplate } from '../../src/routing/template.ts';

/** ESPv2's route regex: `*` ⇒ `[^/]+`, `**` ⇒ `.*`, then `\/?` and `:verb`. */
function espRegex(t: PathTemplate): RegExp {
  let re = '';
  for (const s of t.segments) re += `\\/${s.kind === 'single' ? '[^\\/]+' : s.kind === 'double' ? '.*' : s.value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`;
  return new RegExp(`^${re}\\/?${t.verb === null ? '' : `:${t.verb}`}$`);
}

function check(sorted: readonly string[], paths: readonly string[]): void {
  // Registered in reverse of ESPv2's order: the router must not depend on insertion order.
  const r = new Router<string>();
  for (const p of [...sorted].reverse()) {
    const [method, template] = p.split(' ') as [string, string];
    r.add(method, parseTemplate(template), p);
  }
  for (const path of paths) {
    const expected = sorted.find((p) => espRegex(parseTemplate(p.split(' ')[1]!)).test(path));
    const m = r.match('GET', path);
    assert.equal(m.kind === 'found' ? m.value : m.kind, expected ?? 'not-found', path);
  }
}

describe('ESPv2 sort order (sort_test.go TestSort)', () => {
  test('wildcard prefix: /**/a, /**:verb, /**', () => {
    check(['GET /**/a', 'GET /**:verb', 'GET /**'], ['/a', '/x/a', '/x/y/a', '/x:verb', '/a:verb', '/x/a/', '/x', '/', '/x/b', '/a/b:verb']);
  });

  test('constant prefix and root prefix', () => {
    check(['GET /foo', 'GET /foo/a', 'GET /foo:verb'], ['/foo', '/foo/', '/foo/a', '/foo:verb', '/foo/b']);
    check(['GET /', 'GET /foo', 'GET /**'], ['/', '/foo', '/foo/', '/bar', '/foo/bar']);
  });

  test('constant with wildcard', () => {
    check(
      ['GET /a', 'GET /a/x', 'GET /a/x/b', 'GET /a/x/b/c', 'GET /a/*', 'GET /a/*/b', 'GET /a/*/b/c', 'GET /a/**/b', 'GET /a/**/b/c', 'GET /a/**'],
      ['/a', '/a/x', '/a/x/b', '/a/x/b/c', '/a/y', '/a/y/b', '/a/y/b/c', '/a/y/z/b', '/a/y/z/b/c', '/a/y/z', '/a/b/b', '/a/x/y/b/c', '/a/', '/a/b/c/d/b/'],
    );
  });

  test('various variable bindings', () => {
    check(
      [
        'GET /a/b/c/{x=**}',
        'GET /a/b/{x=*}',
        'GET /a/{x=b/*}/{y=d/**}',
        'GET /{x=a/*}/b/{y=*}/c',
        'GET /a/{x=*}/c/d/e',
        'GET /alpha/{x=*}/beta/{y=**}/gamma',
        'GET /{x=*}/a',
        'GET /{x=*}/d/e/f/{y=**}',
        'GET /{x=**}/a/b',
      ],
      ['/a/b/c/d', '/a/b/z', '/a/b/q/d/e', '/a/z/b/q/c', '/a/z/c/d/e', '/alpha/1/beta/2/3/gamma', '/q/a', '/q/d/e/f/g/h', '/q/r/a/b', '/a/b/a/b', '/x/a/b'],
    );
  });

  test('variable bindings with and without verb', () => {
    check(
      [
        'GET /a/{y=d/**}:verb',
        'GET /a/{y=d/**}',
        'GET /a/{y=*}',
        'GET /a/{y=*}:verb',
        'GET /g/{x=**}/h',
        'GET /g/{x=**}/h:verb',
        'GET /{x=*}/a',
        'GET /{x=*}/a:verb',
        'GET /{x=**}/b',
        'GET /{x=**}/b:verb',
      ],
      ['/a/d/1:verb', '/a/d/1', '/a/z', '/a/z:verb', '/g/1/2/h', '/g/1/h:verb', '/q/a', '/q/a:verb', '/q/r/b', '/q/r/b:verb', '/g/h'],
    );
  });
});

describe('templates with segments after ** (uri_template_parser_test.go ParseTest14, MoreVariableTests, VariableAndCustomVerbTests)', () => {
  test('/a/{b=c/**}/d/e binds b with its slashes', () => {
    const r = new Router<string>();
    r.add('GET', parseTemplate('/a/{b=c/**}/d/e'), 'x');
    const m = r.match('GET', '/a/c/1/2/d/e');
    assert.equal(m.kind, 'found');
    if (m.kind === 'found') assert.deepEqual(m.bindings, [['b', 'c/1/2']]);
    assert.equal(r.match('GET', '/a/c/1/d').kind, 'not-found');
    assert.equal(r.match('POST', '/a/c/1/d/e/').kind, 'method-not-allowed');
  });

  test('/{x.y.z=a/**/b}:custom and /{x.y.z=a/**/b}/c/d:custom', () => {
    const r = new Router<string>();
    r.add('POST', parseTemplate('/{x.y.z=a/**/b}:custom'), 'verb');
    r.add('POST', parseTemplate('/{x.y.z=a/**/b}/c/d:custom'), 'deep');
    const m = r.match('POST', '/a/1/2/b:custom');
    assert.ok(m.kind === 'found' && m.value === 'verb');
    if (m.kind === 'found') assert.deepEqual(m.bindings, [['x.y.z', 'a/1/2/b']]);
    const d = r.match('POST', '/a/1/b/c/d:custom');
    assert.ok(d.kind === 'found' && d.value === 'deep');
    if (d.kind === 'found') assert.deepEqual(d.bindings, [['x.y.z', 'a/1/b']]);
    assert.equal(r.match('POST', '/a/1/b').kind, 'not-found');
  });

  test('ESPv2 refuses a wildcard after ** ("/a/**/*" in its failure list), and so do we', () => {
    assert.throws(() => parseTemplate('/a/**/*'), /only literal segments may follow/);
    assert.throws(() => parseTemplate('/a/{b=**}/{c}'), /only literal segments may follow/);
    assert.throws(() => parseTemplate('/**/**'), /only literal segments may follow/);
  });

  test('the 405 names the template with snake-cased variables (examples/testdata/route_match)', () => {
    const r = new Router<string>();
    r.add('GET', parseTemplate('/libraries/{library_id}/shelves/{shelfId}'), 'x');
    r.add('GET', parseTemplate('/shelves/{SHELF}/books/{BOOK.ID}'), 'y');
    assert.deepEqual(r.match('POST', '/libraries/1/shelves/2'), { kind: 'method-not-allowed', template: '/libraries/{library_id}/shelves/{shelf_id}' });
    // fake_echo_service_config.go: SHELF ⇒ s_h_e_l_f, a dotted name per component.
    assert.deepEqual(r.match('POST', '/shelves/1/books/2'), { kind: 'method-not-allowed', template: '/shelves/{s_h_e_l_f}/books/{b_o_o_k.i_d}' });
  });
});
