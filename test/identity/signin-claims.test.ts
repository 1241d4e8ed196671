// Claim headers and forward-auth for sign-in sessions (a real oidc-provider, the real CLI): a
// browser's session claims reach the backend as headers, and /.endpoints/auth answers a browser
// without a session with the sign-in redirect, and one with a session with its claim headers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { clientUris, closeAllSigninGateways, hop, Jar, signinSpec, startSigninGateway, walk, type SigninGateway } from '../signin/harness.ts';

const SESSION = 'endpoints_session';
let backend: TestBackend;
let idp: TestProvider;
let gw: SigninGateway;
let dir: string;
let alice: Jar;

before(async () => {
  backend = await startTestBackend();
  idp = await startProvider();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-signin-claims-'));
  const clientSecretFile = path.join(dir, 'client-secret');
  await writeFile(clientSecretFile, `${idp.clientSecret}\n`);
  const spec = signinSpec(idp.issuer, idp.clientId, backend.url);
  spec['x-endpoints-claim-headers'] = { email: 'X-Endpoint-Claim-Email', department: 'X-Endpoint-Claim-Department' };
  gw = await startSigninGateway(spec, { args: ['--keys', 'none', '--backend-auth', 'none', '--forward-auth', 'serving', '--signin-client-secret-file', clientSecretFile] });
  idp.register(clientUris([gw]));
  alice = new Jar();
  const { hops } = await walk(alice, `${gw.url}/app/hello`, 'alice');
  assert.ok(hops.some((h) => h.url.startsWith(`${gw.publicUrl}/.endpoints/callback`)), 'went through the callback');
  assert.ok(alice.get(SESSION), 'a session cookie is set');
});

after(async () => {
  await closeAllSigninGateways();
  await idp?.close();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('claim headers from a sign-in session', () => {
  test("the session's claims reach the backend; a forged copy does not", async () => {
    const h = await hop(alice, `${gw.url}/app/page`, { headers: { 'x-endpoint-claim-email': 'ceo@example.com' } });
    assert.equal(h.status, 200, h.body);
    const got = backend.last()!.headers;
    assert.equal(got['x-endpoint-claim-email'], 'alice@example.com');
    assert.equal(got['x-endpoint-claim-department'], 'engineering');
  });
});

describe('forward-auth for browsers', () => {
  const ask = (jar: Jar, uri: string) => hop(jar, `${gw.url}/.endpoints/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': uri } });

  test('a browser without a session gets the sign-in redirect, as the gateway would give it', async () => {
    const h = await ask(new Jar(), '/app/report?year=2026');
    assert.equal(h.status, 302, h.body);
    assert.equal(new URL(h.location!).origin + new URL(h.location!).pathname, `${idp.issuer}/auth`);
    assert.ok(h.setCookies.some((c) => c.startsWith('endpoints_signin=')), 'the flow cookie comes with it, for the proxy to pass on');
    assert.equal(h.headers.get('x-endpoints-error'), null, 'a redirect is no ESP error');
  });

  test('a signed-in browser is admitted with its claim headers and user info', async () => {
    const h = await ask(alice, '/app/report');
    assert.equal(h.status, 200, h.body);
    assert.equal(h.headers.get('x-endpoint-claim-email'), 'alice@example.com');
    assert.equal(h.headers.get('x-endpoint-claim-department'), 'engineering');
    assert.ok(h.headers.get('x-endpoint-api-userinfo'));
  });

  test("the spec's authorization rules apply: a user outside the allowed domain is refused 403", async () => {
    const bob = new Jar();
    await walk(bob, `${gw.url}/`, 'bob');
    assert.ok(bob.get(SESSION), 'bob has a session');
    const h = await ask(bob, '/app/report');
    assert.equal(h.status, 403, h.body);
    // A browser gets the gateway's refusal page, as it would on the serving port; no ESP text to copy.
    assert.match(h.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(h.headers.get('x-endpoints-error'), null);
  });
});
