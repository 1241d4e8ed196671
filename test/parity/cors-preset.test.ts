// --cors-preset and the --cors-* flags, as ESPv2's tests/integration_test/cors_integration_test pins them:
// the gateway answers preflights itself, refuses malformed ones with ESPv2's 400, and every response to an
// allowed origin (the gateway's own refusals included) carries the CORS headers. Real CLI, loopback backend.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { createKey } from '../../src/auth/apikeys/keys-admin.ts';
import { cli, specDir, type SpecDir } from './parity-helpers.ts';

const SERVICE = 'cors.endpoints.parity-project.cloud.goog';
const PREFLIGHT_400 =
  '{"code":400,"message":"The CORS preflight request is missing one (or more) of the following required headers [Origin, Access-Control-Request-Method] or has an unmatched Origin header."}';
const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-allow-credentials',
  'access-control-max-age',
];

let backend: TestBackend;
let dir: SpecDir;
let specFile: string;
let keyStore: string;
let goodKey: string;
let blockedKey: string;

function spec(extra: Record<string, unknown> = {}) {
  const open = { security: [] };
  return {
    swagger: '2.0',
    info: { title: 'cors', version: '1' },
    host: SERVICE,
    'x-google-backend': { address: backend.url },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'calls', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'calls-limit', metric: 'calls', unit: '1/min/{project}', values: { STANDARD: 1 } }] },
    },
    paths: {
      '/echo': { get: { operationId: 'echoGet', ...open, responses: { 200: { description: 'ok' } } }, post: { operationId: 'echo', ...open, responses: { 200: { description: 'ok' } } } },
      '/keyed': { get: { operationId: 'keyed', responses: { 200: { description: 'ok' } } } },
      '/quota': { get: { operationId: 'quota', ...open, 'x-google-quota': { metricCosts: { calls: 1 } }, responses: { 200: { description: 'ok' } } } },
      '/down': { get: { operationId: 'down', ...open, 'x-google-backend': { address: CLOSED_URL, disable_auth: true }, responses: { 200: { description: 'ok' } } } },
      '/custom': { options: { operationId: 'customOptions', ...open, responses: { 200: { description: 'ok' } } } },
    },
    ...extra,
  };
}

const gateways: ChildGateway[] = [];
async function gateway(args: string[], env: Record<string, string> = {}): Promise<ChildGateway> {
  const gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${keyStore}`, '--access-log', 'off', ...args], {
    ENDPOINTS_CACHE_DIR: 'off',
    ...env,
  });
  gateways.push(gw);
  return gw;
}

before(async () => {
  backend = await startTestBackend();
  dir = await specDir();
  specFile = await dir.write('endpoint.json', spec());
  keyStore = `${dir.dir}/keys.yaml`;
  goodKey = (await createKey(keyStore, { project: '111' })).key;
  blockedKey = (await createKey(keyStore, { project: '222', allowedIps: ['10.9.9.9/32'] })).key;
});
after(async () => {
  for (const gw of gateways) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await dir?.close();
});

describe('--cors-preset basic (TestProxyHandlesCorsPreflightRequestsBasic, TestProxyHandleCorsSimpleRequestsBasic)', () => {
  const origin = 'http://cloud.google.com';
  const methods = 'GET, PATCH, DELETE, OPTIONS';
  const headers = 'DNT,User-Agent,Cache-Control,Content-Type,Authorization, X-PINGOTHER';
  let gw: ChildGateway;
  before(async () => {
    gw = await gateway([
      '--cors-preset', 'basic',
      '--cors-allow-origin', origin,
      '--cors-allow-methods', methods,
      '--cors-allow-headers', headers,
      '--cors-expose-headers', 'Content-Length,Content-Range',
      '--cors-allow-credentials',
      '--cors-max-age', '2h',
    ]);
  });

  test('a valid preflight is answered by the gateway: ESPv2 headers, no key, no backend', async () => {
    backend.clear();
    for (const path of ['/echo', '/keyed', '/not/in/the/spec']) {
      const r = await send(gw.url, path, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'X-PINGOTHER' },
      });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.equal(r.headers['access-control-allow-methods'], methods);
      assert.equal(r.headers['access-control-allow-headers'], headers);
      assert.equal(r.headers['access-control-expose-headers'], 'Content-Length,Content-Range');
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
      assert.equal(r.headers['access-control-max-age'], '7200');
    }
    assert.equal(backend.requests.length, 0, 'the backend never sees a preflight');
  });

  for (const [desc, h] of [
    ['the origin does not match', { origin: 'https://some.unknown.origin.com', 'access-control-request-method': 'PATCH' }],
    ['the origin is missing', { 'access-control-request-method': 'PATCH' }],
    ['Access-Control-Request-Method is missing', { origin }],
  ] as const) {
    test(`a preflight is refused 400 with ESPv2's text when ${desc}`, async () => {
      const r = await send(gw.url, '/echo', { method: 'OPTIONS', headers: { ...h, 'access-control-request-headers': 'X-PINGOTHER' } });
      assert.equal(r.status, 400);
      assert.equal(r.body, PREFLIGHT_400);
      // ESPv2 sends none of them here, even to an allowed origin.
      for (const name of CORS_HEADERS) assert.equal(r.headers[name], undefined, name);
    });
  }

  test("an OPTIONS that is not a preflight still reaches the spec's own OPTIONS operation", async () => {
    backend.clear();
    const r = await send(gw.url, '/custom', { method: 'OPTIONS' });
    assert.equal(r.status, 200);
    assert.equal(backend.last()?.method, 'OPTIONS');
  });

  test('simple requests: CORS headers for the allowed origin only', async () => {
    const ok = await send(gw.url, '/echo', { method: 'POST', headers: { origin, 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], origin);
    assert.equal(ok.headers['access-control-expose-headers'], 'Content-Length,Content-Range');
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const other = await send(gw.url, '/echo', { method: 'POST', headers: { origin: 'https://some.unknown.origin.com' }, body: 'hello' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers['access-control-expose-headers'], undefined);
  });

  test("the gateway's own refusals carry the CORS headers (401, 400, 403, 404, 405, 429, 503)", async () => {
    const cases: [string, number, Record<string, string>?][] = [
      ['/keyed', 401],
      [`/keyed?key=${'A'.repeat(39)}`, 400],
      [`/keyed?key=${blockedKey}`, 403],
      ['/nowhere', 404],
      ['/keyed?x', 405, { 'x-http-method-override': 'PUT' }],
      ['/quota', 200],
      ['/quota', 429],
      ['/down', 503],
      ['/healthz', 200],
    ];
    assert.equal((await send(gw.url, `/keyed?key=${goodKey}`, { headers: { origin } })).status, 200);
    for (const [path, status, extra] of cases) {
      const r = await send(gw.url, path, { headers: { origin, ...(extra ?? {}) } });
      assert.equal(r.status, status, `${path}: ${r.body}`);
      assert.equal(r.headers['access-control-allow-origin'], origin, `${path} ${status}`);
      assert.equal(r.headers['access-control-allow-credentials'], 'true', `${path} ${status}`);
      assert.equal(r.headers['access-control-expose-headers'], 'Content-Length,Content-Range', `${path} ${status}`);
    }
  });
});

describe('--cors-preset from ENDPOINTS_* variables with ESPv2 defaults (TestProxyHandlesCorsPreflightWithDefaultAllowOrigin)', () => {
  test('any origin is echoed; default methods, headers and 480h max age; no credentials header', async () => {
    const gw = await gateway([], { ENDPOINTS_CORS_PRESET: 'basic' });
    const r = await send(gw.url, '/echo', { method: 'OPTIONS', headers: { origin: 'http://anything.example', 'access-control-request-method': 'GET' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'http://anything.example');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
    assert.equal(r.headers['access-control-allow-headers'], 'DNT,User-Agent,X-User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization');
    assert.equal(r.headers['access-control-expose-headers'], 'Content-Length,Content-Range');
    assert.equal(r.headers['access-control-max-age'], '1728000');
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  });

  test('ENDPOINTS_CORS_ALLOW_ORIGIN narrows basic to one origin', async () => {
    const gw = await gateway([], { ENDPOINTS_CORS_PRESET: 'basic', ENDPOINTS_CORS_ALLOW_ORIGIN: 'https://app.example' });
    const yes = await send(gw.url, '/echo', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    assert.equal(yes.status, 200);
    assert.equal(yes.headers['access-control-allow-origin'], 'https://app.example');
    const no = await send(gw.url, '/echo', { method: 'OPTIONS', headers: { origin: 'https://other.example', 'access-control-request-method': 'GET' } });
    assert.equal(no.status, 400);
    assert.equal(no.body, PREFLIGHT_400);
  });
});

describe('--cors-preset cors_with_regex (TestProxyHandleCorsSimpleRequestsRegex)', () => {
  test('origins matching the regex get the headers, others none', async () => {
    const gw = await gateway([], {
      ENDPOINTS_CORS_PRESET: 'cors_with_regex',
      ENDPOINTS_CORS_ALLOW_ORIGIN_REGEX: '^https?://.+\\.google\\.com$',
      ENDPOINTS_CORS_EXPOSE_HEADERS: 'Content-Length,Content-Range',
      ENDPOINTS_CORS_ALLOW_CREDENTIALS: 'true',
      ENDPOINTS_CORS_MAX_AGE: '1h',
      ENDPOINTS_CORS_ALLOW_METHODS: 'GET',
      ENDPOINTS_CORS_ALLOW_HEADERS: 'X-Api-Key',
    });
    const yes = await send(gw.url, '/echo', { method: 'POST', headers: { origin: 'http://gcpproxy.cloud.google.com' }, body: 'hello' });
    assert.equal(yes.headers['access-control-allow-origin'], 'http://gcpproxy.cloud.google.com');
    assert.equal(yes.headers['access-control-expose-headers'], 'Content-Length,Content-Range');
    const no = await send(gw.url, '/echo', { method: 'POST', headers: { origin: 'http://some.unknown.origin.com' }, body: 'hello' });
    assert.equal(no.headers['access-control-allow-origin'], undefined);
    const pre = await send(gw.url, '/keyed', { method: 'OPTIONS', headers: { origin: 'https://a.google.com', 'access-control-request-method': 'GET' } });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-max-age'], '3600');
    assert.equal(pre.headers['access-control-allow-methods'], 'GET');
    assert.equal(pre.headers['access-control-allow-headers'], 'X-Api-Key');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    const bad = await send(gw.url, '/keyed', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body, PREFLIGHT_400);
  });

  test('the preset without its regex does not start (ESPv2 refuses it too)', async () => {
    const r = await cli(['serve', '--spec', specFile, '--port', '0', '--backend-auth', 'none', '--keys', 'none', '--cors-preset', 'cors_with_regex']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--cors-allow-origin-regex cannot be empty when --cors-preset=cors_with_regex/);
  });
});

describe('allowCors: true with --cors-preset (esp-v2#261, #424, #465)', () => {
  test('is refused at start with a message that explains the two modes', async () => {
    const file = await dir.write('allow-cors.json', spec({ 'x-google-endpoints': [{ name: SERVICE, allowCors: true }] }));
    const r = await cli(['serve', '--spec', file, '--port', '0', '--backend-auth', 'none', '--keys', 'none', '--cors-preset', 'basic']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /x-google-endpoints: allowCors: true \(x-google-endpoints\) sends CORS preflights to your backend, while --cors-preset makes the gateway answer them itself/);
    assert.match(r.stderr, /Keep allowCors and drop --cors-preset/);
    // Each on its own is fine.
    const alone = await cli(['validate', '--spec', file]);
    assert.equal(alone.code, 0, alone.stderr);
  });

  test('a reload bringing allowCors under --cors-preset is refused; the served config stays', async () => {
    const file = await dir.write('reload-cors.json', spec());
    const gw = await startChildGateway(['--spec', file, '--backend-auth', 'none', '--keys', 'none', '--access-log', 'off', '--cors-preset', 'basic'], { ENDPOINTS_CACHE_DIR: 'off' });
    gateways.push(gw);
    await dir.write('reload-cors.json', spec({ 'x-google-endpoints': [{ name: SERVICE, allowCors: true }] }));
    gw.child.kill('SIGHUP');
    const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
    assert.match(JSON.stringify(refused.problems), /allowCors: true \(x-google-endpoints\) sends CORS preflights to your backend, while --cors-preset/);
    backend.clear();
    const pre = await send(gw.url, '/echo', { method: 'OPTIONS', headers: { origin: 'http://a.example', 'access-control-request-method': 'GET' } });
    assert.equal(pre.status, 200, 'the gateway still answers preflights itself');
    assert.equal(backend.requests.length, 0);
  });
});
