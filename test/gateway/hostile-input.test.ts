// Hostile paths and headers: a clear ESP-style error, no crash, and never a
// request reaching a backend path guarded by an operation whose checks it skipped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';

let backend: TestBackend;
let gw: TestGateway;

const MISSING_KEY =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";

before(async () => {
  backend = await startTestBackend();
  gw = await startTestGateway({
    spec: baseSpec({
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      paths: {
        '/public/{x}': { get: op('publicItem', { security: [], ...pathParams('x') }) },
        '/admin/secret': { get: op('adminSecret') },
      },
    }),
  });
});

after(async () => {
  await gw?.close();
  await backend?.close();
});

describe('path hygiene before matching', () => {
  const guarded = [
    '/public/../admin/secret',
    '/public/%2e%2e/admin/secret',
    '/public/%2E%2e/admin/secret',
    '/public/.%2E/admin/secret',
    '//admin//secret',
    '/admin/./secret',
    '/admin/secret/',
    '/admin/secre%74',
    '/%61dmin/secret',
    '/public/x/../../admin/secret',
    '/../../admin/secret',
  ];
  for (const p of guarded) {
    test(`${p} is matched as /admin/secret and needs its key`, async () => {
      backend.clear();
      const r = await send(gw.url, p);
      assert.equal(r.status, 401, r.body);
      assert.deepEqual(r.json(), { code: 401, message: MISSING_KEY });
      assert.equal(backend.requests.length, 0);
    });
  }

  test('an encoded slash stays data: one segment, forwarded as matched', async () => {
    backend.clear();
    const r = await send(gw.url, '/public/%2E%2E%2Fadmin%2Fsecret');
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.url, '/public/..%2Fadmin%2Fsecret');
  });

  test('the forwarded path is the normalized one', async () => {
    backend.clear();
    const r = await send(gw.url, '/public/../public/./%41b?q=../x');
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.url, '/public/Ab?q=../x');
  });
});

describe('oversized and malformed requests', () => {
  test('a path over 8192 bytes: 400 with ESP text, backend not reached', async () => {
    backend.clear();
    const r = await send(gw.url, `/public/${'a'.repeat(9000)}`);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), { code: 400, message: 'Path is too long, max allowed size is 8192.' });
    assert.equal(backend.requests.length, 0);
  });

  test('a 100 KB header: 431 in JSON, backend not reached, gateway still serving', async () => {
    backend.clear();
    const raw = await sendRaw(gw.url, `GET /public/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.match(raw, /\{"code":431,"message":"Request Header Fields Too Large"\}$/);
    assert.equal(backend.requests.length, 0);
    assert.equal((await send(gw.url, '/public/ok')).status, 200);
  });

  test('header names with underscores are refused (ESPv2 default)', async () => {
    backend.clear();
    const r = await send(gw.url, '/public/x', { headers: { x_api_key: 'k' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), { code: 400, message: 'Bad Request' });
    assert.equal(backend.requests.length, 0);
  });

  test('absolute-form and asterisk request targets are refused', async () => {
    backend.clear();
    for (const target of ['http://evil.example/admin/secret', '*']) {
      const raw = await sendRaw(gw.url, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 400 /, target);
      assert.match(raw, /"code":400/);
    }
    assert.equal(backend.requests.length, 0);
  });

  test('a fragment or control bytes in the request line: 400 JSON', async () => {
    backend.clear();
    for (const target of ['/public/a#b', '/public/a%00b\u0001']) {
      const raw = await sendRaw(gw.url, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 400 /, target);
      assert.match(raw, /"code":400/);
    }
    assert.equal(backend.requests.length, 0);
  });

  test('garbage instead of HTTP: 400 JSON, and the gateway keeps serving', async () => {
    const raw = await sendRaw(gw.url, 'HELLO\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal((await send(gw.url, '/public/ok')).status, 200);
  });

  test('X-HTTP-Method-Override is applied before routing and never reaches the backend (ESPv2)', async () => {
    backend.clear();
    // POST /public/x is not defined: overridden to GET it is, and the backend sees a GET without the header.
    const r = await send(gw.url, '/public/x', { method: 'POST', headers: { 'x-http-method-override': 'get' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.method, 'GET');
    assert.equal(backend.last()!.headers['x-http-method-override'], undefined);
    // The other way round: an open GET turned into the guarded template's POST is checked as that POST.
    const r2 = await send(gw.url, '/admin/secret', { method: 'GET', headers: { 'x-http-method-override': 'POST' } });
    assert.equal(r2.status, 405);
    const bad = await send(gw.url, '/public/x', { headers: { 'x-http-method-override': 'G E T' } });
    assert.equal(bad.status, 400);
    assert.equal(backend.requests.length, 1);
  });

  test('unknown paths and wrong methods need no key', async () => {
    assert.equal((await send(gw.url, '/nope')).status, 404);
    const r = await send(gw.url, '/admin/secret', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(r.json<{ message: string }>().message, 'The current request is matched to the defined url template "/admin/secret" but its http method is not allowed');
  });

  test('GET /healthz answers 200 without a key and never reaches a backend', async () => {
    backend.clear();
    const r = await send(gw.url, '/healthz');
    assert.equal(r.status, 200);
    assert.equal(backend.requests.length, 0);
  });
});
