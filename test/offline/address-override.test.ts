// `--backend-address-override URL` (ESPv2 --enable_backend_address_override with --backend): every
// call goes to the given backend with the request's own path and query, path translation off,
// whatever the spec's x-google-backend blocks say; key, JWT and quota checks are unchanged; the
// operation's deadline and ID-token audience are kept, as ESPv2's configgenerator keeps them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { fixtureSigner, runCli, stopChild, type FixtureSigner } from './offline-env.ts';

const KEY = 'override-test-key-4d9b1c7e2a';
const ISSUER = 'https://issuer.override.example';
const IAP = '123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com';

/** Production addresses only (never reachable here), each with its own path translation. */
function overrideSpec(): Record<string, unknown> {
  const ok = { '200': { description: 'ok' } };
  const param = (name: string) => ({ name, in: 'path', required: true, type: 'string' });
  return {
    swagger: '2.0',
    info: { title: 'override', version: '1' },
    host: 'override-api.endpoints.p.cloud.goog',
    basePath: '/v1',
    'x-google-backend': { address: 'https://run.invalid/api/base', deadline: 30 },
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      ci: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': ISSUER, 'x-google-audiences': 'ci-api' },
    },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'calls', displayName: 'Calls', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'calls-per-minute', metric: 'calls', unit: '1/min/{project}', values: { STANDARD: 2 } }] },
    },
    paths: {
      '/append/{rest}': { get: { operationId: 'append', parameters: [param('rest')], responses: ok } },
      '/constant/{id}': {
        get: {
          operationId: 'constant',
          parameters: [param('id')],
          'x-google-backend': { address: 'https://fn.invalid/fn/const', path_translation: 'CONSTANT_ADDRESS', protocol: 'h2' },
          responses: ok,
        },
      },
      '/counted': { get: { operationId: 'counted', 'x-google-quota': { metricCosts: { calls: 1 } }, responses: ok } },
      '/jwt': { get: { operationId: 'jwt', security: [{ ci: [] }], responses: ok } },
      '/open': { post: { operationId: 'open', security: [], responses: ok } },
    },
  };
}

let dir: string;
let backend: TestBackend;
let signer: FixtureSigner;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-override-'));
  backend = await startTestBackend();
  signer = await fixtureSigner(ISSUER, 'ci-api');
  await writeFile(path.join(dir, 'endpoint.yaml'), stringify(overrideSpec()));
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify(signer.publicJwks));
  const created = await runCli(['keys', 'create', '--store', path.join(dir, 'keys.yaml'), '--project', '77', '--key', KEY]);
  assert.equal(created.code, 0, created.stderr);
  gw = await startChildGateway([
    '--spec', path.join(dir, 'endpoint.yaml'),
    '--backend-auth', 'none',
    '--keys', `file:${path.join(dir, 'keys.yaml')}`,
    '--jwks-file', `${ISSUER}=${path.join(dir, 'jwks.json')}`,
    '--backend-address-override', backend.url,
  ]);
});

after(async () => {
  if (gw) await stopChild(gw);
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('--backend-address-override', () => {
  test("an APPEND_PATH_TO_ADDRESS operation: the request's own path and query, basePath included, no address path", async () => {
    backend.clear();
    const r = await send(gw.url, `/v1/append/a%2Fb?key=${KEY}&x=1&x=2`);
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.url, `/v1/append/a%2Fb?key=${KEY}&x=1&x=2`);
  });

  test('a CONSTANT_ADDRESS operation: no constant path and no template variables appended', async () => {
    backend.clear();
    const r = await send(gw.url, `/v1/constant/42?key=${KEY}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.url, `/v1/constant/42?key=${KEY}`);
    // protocol: h2 in the block does not apply: the override backend is spoken to over HTTP/1.1.
    assert.equal(backend.requests.length, 1);
  });

  test('key checks are unchanged: missing 401, unknown 400, and nothing reaches the backend', async () => {
    backend.clear();
    const missing = await send(gw.url, '/v1/append/x');
    assert.equal(missing.status, 401);
    assert.match(String(missing.json().message), /Method doesn't allow unregistered callers/);
    const unknown = await send(gw.url, '/v1/append/x?key=AIzaUnknownUnknownUnknownUnknown00000');
    assert.equal(unknown.status, 400);
    assert.equal(backend.requests.length, 0);
  });

  test('JWT checks are unchanged: no token 401, a fixture-signed token passes', async () => {
    assert.deepEqual((await send(gw.url, '/v1/jwt')).json(), { code: 401, message: 'Jwt is missing' });
    backend.clear();
    const ok = await send(gw.url, '/v1/jwt', { headers: { authorization: `Bearer ${await signer.sign({})}` } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(backend.last()!.url, '/v1/jwt');
  });

  test('quota is unchanged: the third call in the minute is refused 429', async () => {
    assert.equal((await send(gw.url, `/v1/counted?key=${KEY}`)).status, 200);
    assert.equal((await send(gw.url, `/v1/counted?key=${KEY}`)).status, 200);
    const third = await send(gw.url, `/v1/counted?key=${KEY}`);
    assert.equal(third.status, 429);
    assert.match(String(third.json().message), /^RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'calls'/);
  });

  test('routing is unchanged: undefined paths 404 and other methods 405, never forwarded', async () => {
    backend.clear();
    assert.equal((await send(gw.url, `/v1/nope?key=${KEY}`)).status, 404);
    assert.equal((await send(gw.url, '/v1/open')).status, 405);
    assert.equal((await send(gw.url, '/v1/open', { method: 'POST', body: 'hi' })).status, 200);
    assert.equal(backend.requests.length, 1);
    assert.equal(backend.last()!.body, 'hi');
  });

  test('ENDPOINTS_BACKEND_ADDRESS_OVERRIDE does the same', async () => {
    const other = await startTestBackend();
    const child = await startChildGateway(['--spec', path.join(dir, 'endpoint.yaml'), '--backend-auth', 'none', '--keys', 'none'], {
      ENDPOINTS_BACKEND_ADDRESS_OVERRIDE: other.url,
    });
    try {
      assert.equal((await send(child.url, '/v1/open?a=1', { method: 'POST' })).status, 200);
      assert.equal(other.last()!.url, '/v1/open?a=1');
    } finally {
      await stopChild(child);
      await other.close();
    }
  });

  test('a URL with a path, a query or another scheme is refused before serving', async () => {
    for (const bad of [`${backend.url}/prefix`, `${backend.url}?a=1`, 'ftp://127.0.0.1:21', '127.0.0.1:8080']) {
      const r = await runCli(['serve', '--spec', path.join(dir, 'endpoint.yaml'), '--port', '0', '--keys', 'none', '--backend-auth', 'none', '--backend-address-override', bad]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /--backend-address-override (takes scheme:\/\/host\[:port\] only|must be an http:\/\/ or https:\/\/ URL)/, bad);
    }
  });
});

describe('--backend-address-override with --backend-auth google (ID tokens as ESPv2 keeps them)', () => {
  let meta: MetadataEmulator;
  let local: TestBackend;
  let inproc: TestGateway;

  before(async () => {
    meta = await startMetadataEmulator();
    process.env.GCE_METADATA_HOST = meta.host;
    process.env.METADATA_SERVER_DETECTION = 'assume-present';
    process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
    local = await startTestBackend();
    inproc = await startTestGateway({
      backendAuth: 'google',
      backendAddressOverride: local.url,
      spec: {
        swagger: '2.0',
        info: { title: 'aud', version: '1' },
        host: 'aud-api.endpoints.p.cloud.goog',
        'x-google-backend': { address: 'https://run.invalid/base' },
        paths: {
          '/derived': { get: { operationId: 'derived', responses: { '200': { description: 'ok' } } } },
          '/iap': { get: { operationId: 'iap', 'x-google-backend': { address: 'https://iap.invalid/x', jwt_audience: IAP }, responses: { '200': { description: 'ok' } } } },
          '/noauth': { get: { operationId: 'noauth', 'x-google-backend': { address: 'https://na.invalid/x', disable_auth: true }, responses: { '200': { description: 'ok' } } } },
          '/slow': { get: { operationId: 'slow', 'x-google-backend': { address: 'https://slow.invalid/x', deadline: 0.3 }, responses: { '200': { description: 'ok' } } } },
        },
      },
    });
  });

  after(async () => {
    await inproc?.close();
    await local?.close();
    await meta?.close();
  });

  const tokenOf = (auth: unknown) => String(auth ?? '').replace(/^Bearer /, '');

  test("the audience is still the spec's: the address as written, or jwt_audience", async () => {
    assert.equal((await send(inproc.url, '/derived')).status, 200);
    assert.equal(local.last()!.url, '/derived');
    assert.equal((await meta.verify(tokenOf(local.last()!.headers.authorization), 'https://run.invalid/base')).aud, 'https://run.invalid/base');
    assert.equal((await send(inproc.url, '/iap')).status, 200);
    assert.equal(local.last()!.url, '/iap');
    assert.equal((await meta.verify(tokenOf(local.last()!.headers.authorization), IAP)).aud, IAP);
  });

  test('disable_auth still sends no token', async () => {
    assert.equal((await send(inproc.url, '/noauth', { headers: { authorization: 'Bearer caller' } })).status, 200);
    assert.equal(local.last()!.url, '/noauth');
    assert.equal(local.last()!.headers.authorization, 'Bearer caller');
  });

  test("the operation's deadline still bounds the call", async () => {
    local.setDelayMs(1500);
    try {
      const r = await send(inproc.url, '/slow');
      assert.equal(r.status, 504);
      assert.deepEqual(r.json(), { code: 504, message: 'upstream request timeout' });
    } finally {
      local.setDelayMs(0);
    }
  });
});
