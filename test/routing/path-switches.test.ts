// ESPv2's path switches against the real CLI and a real backend, with its tests' vectors:
// dynamic_routing_integration_test (escaped slashes, normalization on and off), start_proxy's
// --disable_normalize_path table, route_generator_test's colon-free wildcard regexes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

let backend: http.Server;
let dir: string;
/** --disallow-escaped-slashes-in-path --disallow-colon-in-wildcard-path-segment */
let strict: ChildGateway;
/** --disable-normalize-path */
let raw: ChildGateway;
/** Defaults. */
let plain: ChildGateway;

before(async () => {
  backend = http.createServer((req, res) => res.end(JSON.stringify({ RequestURI: req.url })));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  dir = await mkdtemp(path.join(tmpdir(), 'egw-path-switches-'));
  const spec = path.join(dir, 'endpoint.json');
  const get = (id: string) => ({ get: { operationId: id, responses: { 200: { description: 'ok' } } } });
  await writeFile(
    spec,
    JSON.stringify({
      swagger: '2.0',
      info: { title: 'paths', version: '1' },
      host: 'paths.endpoints.p.cloud.goog',
      'x-google-backend': { address: `http://127.0.0.1:${(backend.address() as AddressInfo).port}`, path_translation: 'APPEND_PATH_TO_ADDRESS' },
      security: [],
      paths: {
        '/echo/{id}/path': { ...get('echo'), parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }] },
        '/v1/{book_name=*}/test/**': { ...get('foo'), parameters: [{ name: 'book_name', in: 'path', required: true, type: 'string' }] },
        '/world': get('world'),
        '/J': get('j'),
      },
    }),
  );
  const common = ['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--access-log', 'off'];
  [strict, raw, plain] = await Promise.all([
    startChildGateway([...common, '--disallow-escaped-slashes-in-path', '--disallow-colon-in-wildcard-path-segment']),
    startChildGateway([...common, '--disable-normalize-path']),
    startChildGateway(common),
  ]);
});

after(async () => {
  for (const g of [strict, raw, plain]) g?.child.kill('SIGTERM');
  await Promise.all([strict?.exit(), raw?.exit(), plain?.exit()]);
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function forwarded(base: string, p: string): Promise<string> {
  const r = await send(base, p);
  assert.equal(r.status, 200, `${p}: ${r.body}`);
  return r.json<{ RequestURI: string }>().RequestURI;
}

describe('--disallow-escaped-slashes-in-path', () => {
  for (const [p, location] of [
    ['/echo/123%2Fpath/', '/echo/123/path/'],
    ['/echo/12%2f3/path?x=%2F', '/echo/12/3/path?x=%2F'],
    ['/echo/1%5C2/path', '/echo/1\\2/path'],
  ] as const) {
    test(`${p}: 307 to ${location}, ESPv2's JSON body`, async () => {
      const r = await send(strict.url, p);
      assert.equal(r.status, 307);
      assert.equal(r.headers.location, location);
      assert.deepEqual(r.json(), { code: 307, message: '' });
    });
  }

  test('query parameters are not touched: /echo/123/path/?param1=%4A/../test forwarded as is', async () => {
    assert.equal(await forwarded(strict.url, '/echo/123/path/?param1=%4A/../test'), '/echo/123/path/?param1=%4A/../test');
  });

  test('off (the default): the escaped slash is data, forwarded as sent', async () => {
    assert.equal(await forwarded(plain.url, '/echo/12%2F3/path/'), '/echo/12%2F3/path/');
  });
});

describe('--disable-normalize-path', () => {
  test("ESPv2's table, normalization on: /hello/../world → /world, /%4A and /%4a → /J", async () => {
    assert.equal(await forwarded(plain.url, '/hello/../world'), '/world');
    assert.equal(await forwarded(plain.url, '/%4A'), '/J');
    assert.equal(await forwarded(plain.url, '/%4a'), '/J');
    assert.equal(await forwarded(plain.url, '/echo/%4A/path/'), '/echo/J/path/');
  });

  test("ESPv2's table, normalization off: /hello/../world is refused; /%4A stays /%4A (no /J route for it)", async () => {
    const dots = await send(raw.url, '/hello/../world');
    assert.equal(dots.status, 400);
    assert.deepEqual(dots.json(), { code: 400, message: 'Bad Request' });
    const escaped = await send(raw.url, '/%4A');
    assert.equal(escaped.status, 404);
    assert.equal(await forwarded(raw.url, '/echo/%4A/path/'), '/echo/%4A/path/');
  });

  test('off: slashes are still merged; encoded dots and backslashes are refused too', async () => {
    assert.equal(await forwarded(raw.url, '//echo//1/path'), '/echo/1/path');
    for (const p of ['/echo/%2e%2e/path', '/echo/./path', '/echo/a%2E/path/..', '/echo/a\\b/path', '/echo/%00/path', '/echo/%zz/path']) {
      const r = await send(raw.url, p);
      assert.equal(r.status, 400, p);
    }
  });
});

describe('--disallow-colon-in-wildcard-path-segment', () => {
  // ESPv2: /v1/{book_name=*}/test/** becomes ^/v1/[^\/:]+/test/[^:]*\/?$ with the flag, ^/v1/[^\/]+/test/.*\/?$ without.
  for (const p of ['/v1/books:1/test/a/b', '/v1/books/test/a:b', '/v1/books/test/a/b:c/d']) {
    test(`${p}: matched without the flag, not with it`, async () => {
      assert.equal(await forwarded(plain.url, p), p);
      const r = await send(strict.url, p);
      assert.equal(r.status, 404);
      assert.deepEqual(r.json(), { code: 404, message: 'The current request is not defined by this API.' });
    });
  }

  test('a colon-free path still matches with the flag', async () => {
    assert.equal(await forwarded(strict.url, '/v1/books/test/a/b'), '/v1/books/test/a/b');
  });
});
