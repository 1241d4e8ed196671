// Backend ID tokens through the real google-auth-library, against the
// metadata-server emulator: audiences, header moves, failures (reference 2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

let meta: MetadataEmulator;
let backend: TestBackend;
let gw: TestGateway;
const IAP_CLIENT_ID = '123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com';

before(async () => {
  meta = await startMetadataEmulator();
  process.env.GCE_METADATA_HOST = meta.host;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
  backend = await startTestBackend();
  const B = backend.url;
  gw = await startTestGateway({
    backendAuth: 'google',
    spec: baseSpec({
      'x-google-backend': { address: `${B}` },
      paths: {
        '/top': { get: op('top') },
        '/constant/{foo}': { get: op('constant', { 'x-google-backend': { address: `${B}/bearertoken/constant` }, ...pathParams('foo') }) },
        '/iap': { get: op('iap', { 'x-google-backend': { address: `${B}/hello`, jwt_audience: IAP_CLIENT_ID } }) },
        '/noauth': { get: op('noauth', { 'x-google-backend': { address: `${B}/noauth`, disable_auth: true } }) },
      },
    }),
  });
});

after(async () => {
  await gw?.close();
  await backend?.close();
  await meta?.close();
});

async function claimsOf(path: string, headers: Record<string, string> = {}) {
  backend.clear();
  const r = await send(gw.url, path, { headers });
  assert.equal(r.status, 200, r.body);
  const seen = backend.last()!;
  const auth = String(seen.headers.authorization ?? '');
  assert.match(auth, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  return { seen, token: auth.slice('Bearer '.length) };
}

describe('backend ID tokens', () => {
  test('top-level backend: the token audience is the address exactly as written, verified with the issuer keys', async () => {
    const { token } = await claimsOf('/top');
    const claims = await meta.verify(token, backend.url);
    assert.equal(claims.aud, backend.url);
    assert.equal(claims.iss, 'https://accounts.google.com');
  });

  test('operation backend with a path: audience is the full address including its path', async () => {
    const { token, seen } = await claimsOf('/constant/42');
    assert.equal(seen.url, '/bearertoken/constant?foo=42');
    await meta.verify(token, `${backend.url}/bearertoken/constant`);
  });

  test('jwt_audience (App Engine behind IAP) overrides the audience', async () => {
    const { token } = await claimsOf('/iap');
    const claims = await meta.verify(token, IAP_CLIENT_ID);
    assert.equal(claims.aud, IAP_CLIENT_ID);
  });

  test("the caller's Authorization moves to X-Forwarded-Authorization; a caller-sent one is replaced", async () => {
    const { seen } = await claimsOf('/top', { authorization: 'Bearer origin-token', 'x-forwarded-authorization': 'Bearer untrusted-token' });
    assert.equal(seen.headers['x-forwarded-authorization'], 'Bearer origin-token');
  });

  test('a caller-sent X-Forwarded-Authorization without Authorization does not reach the backend', async () => {
    const { seen } = await claimsOf('/top', { 'x-forwarded-authorization': 'Bearer untrusted-token' });
    assert.equal(seen.headers['x-forwarded-authorization'], undefined);
  });

  test('disable_auth: no token, and the caller headers pass untouched', async () => {
    backend.clear();
    const r = await send(gw.url, '/noauth', { headers: { authorization: 'Bearer mine', 'x-forwarded-authorization': 'x' } });
    assert.equal(r.status, 200);
    assert.equal(backend.last()!.headers.authorization, 'Bearer mine');
    assert.equal(backend.last()!.headers['x-forwarded-authorization'], 'x');
  });

  test('tokens are cached: repeated calls make no new identity request', async () => {
    await claimsOf('/top');
    const before = meta.identityCount(backend.url);
    for (let i = 0; i < 10; i++) await claimsOf('/top');
    assert.equal(meta.identityCount(backend.url), before);
  });

  test('a burst of cold requests for a new audience makes one identity request', async () => {
    const aud = 'https://burst.example.com';
    meta.setDelayMs(300);
    const g2 = await startTestGateway({
      backendAuth: 'google',
      spec: baseSpec({ paths: { '/b': { get: op('b', { 'x-google-backend': { address: `${backend.url}/b`, jwt_audience: aud } }) } } }),
    });
    try {
      const replies = await Promise.all(Array.from({ length: 25 }, () => send(g2.url, '/b')));
      assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
    } finally {
      meta.setDelayMs(0);
      await g2.close();
    }
    assert.equal(meta.identityCount(aud), 1);
  });

  test('a failed fetch answers 500 "Token not found for audience", is not cached, and recovers', async () => {
    // A gateway of its own, so its audience has never been fetched; 403 is not retried by the library.
    meta.setFailing(true, 403);
    const g2 = await startTestGateway({
      backendAuth: 'google',
      spec: baseSpec({ paths: { '/x': { get: op('x', { 'x-google-backend': { address: `${backend.url}/x`, jwt_audience: 'https://fresh.example.com' } }) } } }),
    });
    try {
      backend.clear();
      const bad = await send(g2.url, '/x');
      assert.equal(bad.status, 500);
      assert.deepEqual(bad.json(), { code: 500, message: 'Token not found for audience: https://fresh.example.com' });
      assert.equal(backend.requests.length, 0);
      meta.setFailing(false);
      const good = await send(g2.url, '/x');
      assert.equal(good.status, 200);
      assert.equal(backend.requests.length, 1);
    } finally {
      meta.setFailing(false);
      await g2.close();
    }
  });
});
