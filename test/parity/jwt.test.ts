// End-user JWTs as ESPv2's tests/integration_test/jwt_auth_integration_test pins them:
// X.509 key maps verify tokens (TestAsymmetricKeys, "Succeeded for x509 public keys": ESPv2 serves
// tests/env/testdata/fake_jwt.go's x509PubKeys, `{"<kid>": "-----BEGIN CERTIFICATE-----..."}`; here the key
// pair and self-signed certificate are made at test time), and an OpenID discovery that fails at start
// keeps the gateway unready (TestInvalidOpenIDConnectDiscovery) until a retry succeeds. Real CLI, loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { specDir, type SpecDir } from './parity-helpers.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';

import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { X509CertificateGenerator } from '@peculiar/x509';

const AUDIENCE = 'parity-audience';
const X509_ISSUER = 'x509-issuer.parity.test';

/** What an issuer publishing X.509 certificates by key id offers: the map, and a key signing for one of them. */
interface CertificateIssuer {
  kid: string;
  /** The jwks_uri document: `{"<kid>": "<PEM certificate>"}`, Google's service-account key form. */
  keyMap: Record<string, string>;
  privateKey: CryptoKey;
}

async function certificateIssuer(): Promise<CertificateIssuer> {
  // Node's crypto makes keys but not certificates; @peculiar/x509 builds and self-signs one over Node's
  // global WebCrypto (its default provider).
  const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = await crypto.subtle.generateKey(rsa, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '2a',
    name: `CN=${X509_ISSUER}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: rsa,
  });
  // Google names its certificates by a 40-hex-digit id; the SHA-1 thumbprint has that shape.
  const kid = Buffer.from(await cert.getThumbprint()).toString('hex');
  return { kid, keyMap: { [kid]: cert.toString('pem') }, privateKey: keys.privateKey as CryptoKey };
}

let meta: MetadataEmulator;

let backend: TestBackend;
let dir: SpecDir;
let keyServer: Server;
let keyBase: string;
let discoveryOk = false;
let x509: CertificateIssuer;
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
  x509 = await certificateIssuer();
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
      res.end(JSON.stringify(x509.keyMap));
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
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await new Promise((r) => keyServer?.close(r));
  await backend?.close();
  await meta?.close();
  await dir?.close();
});

describe('X.509 key maps (TestAsymmetricKeys "Succeeded for x509 public keys")', () => {
  test('a token signed for a certificate in the map verifies; one under the same kid by another key does not', async () => {
    const gw = await serve(
      await dir.write('x509.json', spec({ 'x-google-issuer': X509_ISSUER, 'x-google-jwks_uri': `${keyBase}/x509`, 'x-google-audiences': AUDIENCE })),
    );
    const token = (key: CryptoKey) =>
      new SignJWT({ sub: 'x509-user' })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: x509.kid })
        .setIssuer(X509_ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key);
    backend.clear();
    const r = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${await token(x509.privateKey)}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.requests.length, 1);
    const impostor = await generateKeyPair('RS256');
    const bad = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${await token(impostor.privateKey)}` } });
    assert.equal(bad.status, 401);
    assert.equal(bad.body, '{"code":401,"message":"Jwt verification fails"}');
    assert.equal(backend.requests.length, 1);
  });
});

describe('OpenID discovery failing at start (TestInvalidOpenIDConnectDiscovery)', () => {
  test('/readyz stays 503 naming the issuer until a retry succeeds; then tokens verify', async () => {
    discoveryOk = false;
    // No x-google-jwks_uri: the keys come from <issuer>/.well-known/openid-configuration.
    const gw = await serve(await dir.write('discovery.json', spec({ 'x-google-issuer': keyBase, 'x-google-audiences': AUDIENCE })), 'google');
    const waitReady = async (want: number, ms: number) => {
      const end = Date.now() + ms;
      for (;;) {
        const r = await send(gw.url, '/readyz');
        if (r.status === want || Date.now() > end) return r;
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    // Deadlines only a failing test reaches: sized for a starved machine and the retry backoff.
    const unready = await waitReady(503, 30_000);
    assert.equal(unready.status, 503);
    assert.match(unready.body, new RegExp(`OpenID discovery failed for ${keyBase.replace(/[./]/g, '\\$&')} \\(OpenID discovery answered 503\\); retrying`));
    await gw.waitForLog((l) => l.message === 'OpenID discovery failed: not ready; retrying' && l.issuer === keyBase);
    discoveryOk = true;
    const ready = await waitReady(200, 90_000);
    assert.equal(ready.status, 200, ready.body);
    const token = await new SignJWT({ sub: 'u' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(keyBase)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(signer);
    const r = await send(gw.url, '/v1/shelves', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
  });
});
