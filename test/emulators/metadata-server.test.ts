// The emulator itself, and the test backend helper: wire behaviour the real libraries depend on.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleAuth, OAuth2Client } from 'google-auth-library';
import { generateKeyPair, SignJWT } from 'jose';
import { startMetadataEmulator, type MetadataEmulator } from './metadata-server.ts';
import { startTestBackend } from '../helpers/backend.ts';

let em: MetadataEmulator;

before(async () => {
  em = await startMetadataEmulator({ projectId: 'emu-project', serviceAccountEmail: 'runner@emu-project.iam.gserviceaccount.com' });
  process.env.GCE_METADATA_HOST = em.host;
  delete process.env.METADATA_SERVER_DETECTION; // exercise the library's real probe
  process.env.GOOGLE_CLOUD_PROJECT = 'emu-project';
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
});

after(async () => {
  await em.close();
});

describe('metadata-server emulator', () => {
  test('requires Metadata-Flavor: Google and always answers with it', async () => {
    const denied = await fetch(`${em.url}/computeMetadata/v1/project/project-id`);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('metadata-flavor'), 'Google');
    const ok = await fetch(`${em.url}/computeMetadata/v1/project/project-id`, { headers: { 'Metadata-Flavor': 'Google' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('metadata-flavor'), 'Google');
    assert.equal(await ok.text(), 'emu-project');
    const proxied = await fetch(`${em.url}/computeMetadata/v1/instance`, {
      headers: { 'Metadata-Flavor': 'Google', 'X-Forwarded-For': '10.0.0.1' },
    });
    assert.equal(proxied.status, 403);
  });

  test('the real library detects it (probe), reads metadata and gets access and ID tokens', async () => {
    const md = (p: string) => fetch(`${em.url}/computeMetadata/v1/${p}`, { headers: { 'Metadata-Flavor': 'Google' } }).then((r) => r.text());
    assert.equal(await md('instance/service-accounts/default/email'), 'runner@emu-project.iam.gserviceaccount.com');
    assert.equal(await md('project/numeric-project-id'), '123456789012');
    const auth = new GoogleAuth();
    const access = await auth.getAccessToken(); // ADC: probe GET /instance, then the token endpoint
    assert.match(access ?? '', /^ya29\./);
    assert.ok(em.requests.some((r) => r.path === '/computeMetadata/v1/instance'));
    assert.ok(em.requests.some((r) => r.path === '/computeMetadata/v1/instance/service-accounts/default/token'));
    const idc = await auth.getIdTokenClient('https://probe.example');
    const headers = await idc.getRequestHeaders();
    const token = (headers.get('authorization') ?? '').replace(/^Bearer /, '');
    const claims = await em.verify(token, 'https://probe.example');
    assert.equal(claims.email, 'runner@emu-project.iam.gserviceaccount.com');
    assert.equal(em.identityCount('https://probe.example'), 1);
  });

  test('format=standard omits the google claim; verify() rejects another audience', async () => {
    const res = await fetch(
      `${em.url}/computeMetadata/v1/instance/service-accounts/default/identity?format=standard&audience=https://std.example/a`,
      { headers: { 'Metadata-Flavor': 'Google' } },
    );
    const token = await res.text();
    const claims = await em.verify(token, 'https://std.example/a');
    assert.equal(claims.google, undefined);
    assert.equal(claims.aud, 'https://std.example/a');
    await assert.rejects(em.verify(token, 'https://other.example'));
    assert.equal(em.requests.at(-1)?.format, 'standard');
  });

  test('PEM certs verify with OAuth2Client and are cached thanks to Cache-Control: max-age', async () => {
    const certs = await fetch(em.pemCertsUrl);
    assert.match(certs.headers.get('cache-control') ?? '', /max-age=\d+/);
    const aud = 'https://pem.example';
    const token = await (await new GoogleAuth().getIdTokenClient(aud)).idTokenProvider.fetchIdToken(aud);
    const verifier = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: em.pemCertsUrl } });
    const before = em.requests.filter((r) => r.path === '/oauth2/v1/certs').length;
    const ticket = await verifier.verifyIdToken({ idToken: token, audience: aud });
    await verifier.verifyIdToken({ idToken: token, audience: aud });
    assert.equal(ticket.getPayload()?.aud, aud);
    assert.equal(em.requests.filter((r) => r.path === '/oauth2/v1/certs').length, before + 1);
  });

  test('/token refuses an assertion signed by an unknown key', async () => {
    await em.createServiceAccountKey('known@emu-project.iam.gserviceaccount.com');
    const { privateKey } = await generateKeyPair('RS256');
    const assertion = await new SignJWT({ target_audience: 'https://x.example' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('known@emu-project.iam.gserviceaccount.com')
      .setAudience('https://oauth2.googleapis.com/token')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const res = await fetch(em.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_grant');
  });
});

describe('test backend helper', () => {
  test('echoes, records bodies, honours status/delay/clear, verifies tokens across a key rotation', async () => {
    const aud = 'https://backend-helper.example';
    const be = await startTestBackend({ verifyIdTokensWith: { jwksUrl: em.jwksUrl, issuer: em.issuer, audience: aud } });
    try {
      const mint = async () => {
        const r = await fetch(`${em.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${aud}`, {
          headers: { 'Metadata-Flavor': 'Google' },
        });
        return r.text();
      };
      let res = await fetch(`${be.url}/a/%2F?k=v`, { method: 'PUT', body: 'payload', headers: { authorization: `Bearer ${await mint()}` } });
      assert.equal(res.status, 200);
      const echo = (await res.json()) as { method: string; url: string; headers: Record<string, string> };
      assert.equal(echo.method, 'PUT');
      assert.equal(echo.url, '/a/%2F?k=v');
      assert.equal(be.last()?.body, 'payload');
      assert.equal(be.last()?.idToken?.ok, true);

      await em.rotateKey();
      await fetch(be.url, { headers: { authorization: `Bearer ${await mint()}` } });
      assert.equal(be.last()?.idToken?.ok, true, JSON.stringify(be.last()?.idToken));

      await fetch(be.url);
      assert.deepEqual(be.last()?.idToken, { ok: false, error: 'no Authorization header' });

      be.setStatus(503);
      be.setDelayMs(100);
      const t0 = Date.now();
      res = await fetch(be.url);
      assert.equal(res.status, 503);
      assert.ok(Date.now() - t0 >= 90);
      assert.equal(be.requests.length, 4);
      be.clear();
      assert.equal(be.last(), undefined);
    } finally {
      await be.close();
    }
  });
});
