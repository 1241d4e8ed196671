// End-user JWTs as ESPv2's tests/integration_test/jwt_auth_integration_test pins them:
// X.509 key maps verify tokens (TestAsymmetricKeys, "Succeeded for x509 public keys", with ESPv2's own
// key and token from tests/env/testdata/fake_jwt.go), and an OpenID discovery that fails at start keeps
// the gateway unready (TestInvalidOpenIDConnectDiscovery) until a retry succeeds. Real CLI, loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { specDir, type SpecDir } from './parity-helpers.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';

let meta: MetadataEmulator;
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

interface X509Fixture {
  issuer: string;
  audience: string;
  keys: Record<string, string>;
  token: string;
}

let backend: TestBackend;
let dir: SpecDir;
let keyServer: Server;
let keyBase: string;
let discoveryOk = false;
let fixture: X509Fixture;
let signer: CryptoKey;
let jwks = '';
const gateways: ChildGateway[] = [];

function spec(scheme: Record<string, unknown>) {
  return {
    swagger: '2.0',
    info: { title: 'jwt', version: '1' },
    host: 'jwt.endpoints.parity-project.cloud.goog',
    'x-google-backend': { address: backend.url, disable_auth: true },
    securityDefinitions: { issuer: { type: 'oauth2', authorizationUrl: '', flow: 'implicit', ...scheme } },
    paths: {
      '/v1/shelves': { get: { operationId: 'listShelves', security: [{ issuer: [] }], responses: { 200: { description: 'ok' } } } },
    },
  };
}

async function serve(file: string, backendAuth: 'none' | 'google' = 'none'): Promise<ChildGateway> {
  // Discovery gates readiness where keys are fetched ahead, i.e. with --backend-auth google (the
  // metadata emulator hands out the backend's ID tokens); offline it waits for the first token.
  const env: Record<string, string> =
    backendAuth === 'google'
      ? { ENDPOINTS_CACHE_DIR: 'off', GCE_METADATA_HOST: meta.host, METADATA_SERVER_DETECTION: 'assume-present', GOOGLE_CLOUD_PROJECT: 'test-project' }
      : { ENDPOINTS_CACHE_DIR: 'off' };
  const gw = await startChildGateway(['--spec', file, '--backend-auth', backendAuth, '--keys', 'none', '--access-log', 'off'], env);
  gateways.push(gw);
  return gw;
}

before(async () => {
  meta = await startMetadataEmulator();
  fixture = JSON.parse(await readFile(path.resolve(import.meta.dirname, 'fixtures/esp-v2-x509-jwt.json'), 'utf8')) as X509Fixture;
  backend = await startTestBackend();
  dir = await specDir();
  const pair = await generateKeyPair('RS256');
  signer = pair.privateKey;
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  keyServer = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(jwks);
    } else if (req.url === '/x509') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(fixture.keys));
    } else if (req.url === '/.well-known/openid-configuration') {
      if (!discoveryOk) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('not yet');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: keyBase, jwks_uri: `${keyBase}/jwks` }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => keyServer.listen(0, '127.0.0.1', r));
  keyBase = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}`;
});
after(async () => {
  for (const gw of gateways) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  await new Promise((r) => keyServer?.close(r));
  await backend?.close();
  await meta?.close();
  await dir?.close();
});

describe('X.509 key maps (TestAsymmetricKeys "Succeeded for x509 public keys")', () => {
  test("ESPv2's x509 token verifies against its certificate map; a forged one does not", async () => {
    const gw = await serve(
      await dir.write('x509.json', spec({ 'x-google-issuer': fixture.issuer, 'x-google-jwks_uri': `${keyBase}/x509`, 'x-google-audiences': fixture.audience })),
    );
    backend.clear();
    const r = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${fixture.token}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.requests.length, 1);
    const [h, p, sig] = fixture.token.split('.') as [string, string, string];
    const forged = `${h}.${p}.${sig.slice(0, -4)}${sig.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const bad = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(bad.status, 401);
    assert.equal(bad.body, '{"code":401,"message":"Jwt verification fails"}');
  });
});

describe('OpenID discovery failing at start (TestInvalidOpenIDConnectDiscovery)', () => {
  test('/readyz stays 503 naming the issuer until a retry succeeds; then tokens verify', async () => {
    discoveryOk = false;
    // No x-google-jwks_uri: the keys come from <issuer>/.well-known/openid-configuration.
    const gw = await serve(await dir.write('discovery.json', spec({ 'x-google-issuer': keyBase, 'x-google-audiences': fixture.audience })), 'google');
    const waitReady = async (want: number, ms: number) => {
      const end = Date.now() + ms;
      for (;;) {
        const r = await send(gw.url, '/readyz');
        if (r.status === want || Date.now() > end) return r;
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const unready = await waitReady(503, 5000);
    assert.equal(unready.status, 503);
    assert.match(unready.body, new RegExp(`OpenID discovery failed for ${keyBase.replace(/[./]/g, '\\$&')} \\(OpenID discovery answered 503\\); retrying`));
    await gw.waitForLog((l) => l.message === 'OpenID discovery failed: not ready; retrying' && l.issuer === keyBase);
    discoveryOk = true;
    const ready = await waitReady(200, 15_000);
    assert.equal(ready.status, 200, ready.body);
    const token = await new SignJWT({ sub: 'u' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(keyBase)
      .setAudience(fixture.audience)
      .setExpirationTime('10m')
      .sign(signer);
    const r = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
  });
});
