// Sign-in against a provider without end-session, with a shorter --session-ttl
// and an operation asking for the identity assertion; and a spec whose
// authorizationUrl disagrees with the issuer's discovery document.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { createSealedCookieCodec } from '../../src/signin/sealed-cookie.ts';
import { openSession } from '../../src/signin/session.ts';
import { startProvider, type TestProvider } from './provider.ts';
import { API, clientUris, hop, Jar, SECRET, signinSpec, startSigninGateway, walk, type SigninGateway, closeAllSigninGateways } from './harness.ts';

const SESSION = 'endpoints_session';

let backend: TestBackend;
/** oidc-provider without RP-initiated logout: its discovery document has no end_session_endpoint. */
let idp: TestProvider;
/** --session-ttl 1h; /asserted asks for X-Endpoints-Gateway-Assertion. */
let gw: SigninGateway;
/** Its spec's authorizationUrl is not the one the issuer's discovery document names. */
let mismatched: SigninGateway;

before(async () => {
  backend = await startTestBackend();
  idp = await startProvider({ endSession: false });
  const spec = signinSpec(idp.issuer, idp.clientId, backend.url);
  (spec.paths as Record<string, unknown>)['/asserted'] = {
    get: { operationId: 'asserted', security: [{ signin: [] }], 'x-google-backend': { address: backend.url, 'x-endpoints-identity-header': true }, responses: { '200': { description: 'ok' } } },
  };
  const wrong = signinSpec(idp.issuer, idp.clientId, backend.url);
  ((wrong.securityDefinitions as Record<string, Record<string, unknown>>).signin!).authorizationUrl = `${idp.issuer}/somewhere-else`;
  const args = ['--keys', 'none', '--backend-auth', 'none'];
  const env = { ENDPOINTS_SIGNIN_CLIENT_SECRET: idp.clientSecret };
  [gw, mismatched] = await Promise.all([
    startSigninGateway(spec, { args: [...args, '--session-ttl', '1h'], env }),
    startSigninGateway(wrong, { args, env }),
  ]);
  idp.register(clientUris([gw]));
});

after(async () => {
  await closeAllSigninGateways();
  await idp?.close();
  await backend?.close();
});

async function signIn(target: string): Promise<{ jar: Jar; callbackCookies: string[] }> {
  const jar = new Jar();
  const { hops } = await walk(jar, `${gw.url}${target}`, 'alice');
  const cb = hops.find((h) => h.url.startsWith(`${gw.url}/.endpoints/callback`));
  assert.ok(cb, 'went through the callback');
  assert.ok(jar.get(SESSION), 'a session cookie is set');
  return { jar, callbackCookies: cb.setCookies };
}

describe('sign-in options', () => {
  test('the ID token is verified with the provider\'s JWKS (fetched: openid-client skips it unless asked)', async () => {
    // This spec has no JWT scheme, so nothing else in the gateway reads the provider's keys.
    await signIn('/app/x');
    assert.ok(idp.seen.includes('GET /jwks'), idp.seen.join('\n'));
  });

  test('--session-ttl 1h: the cookie and the session it holds last an hour', async () => {
    const { jar, callbackCookies } = await signIn('/app/x');
    const set = callbackCookies.find((c) => c.startsWith(`${SESSION}=`))!;
    assert.match(set, /Max-Age=3600;/);
    // From the session itself, not the clock: the lifetime is exactly the one given.
    const s = (await openSession(createSealedCookieCodec([SECRET], 'session'), jar.get(SESSION)!))!;
    assert.equal(s.exp - s.iat, 3600);
  });

  test('with x-endpoints-identity-header, the backend gets the signed assertion naming the signed-in user', async () => {
    const { jar } = await signIn('/asserted');
    backend.clear();
    const r = await hop(jar, `${gw.url}/asserted`, { headers: API });
    assert.equal(r.status, 200, r.body);
    const assertion = String(backend.last()!.headers['x-endpoints-gateway-assertion'] ?? '');
    const jwks = (await (await fetch(`${gw.url}/.well-known/endpoints-gateway/jwks.json`)).json()) as Parameters<typeof createLocalJWKSet>[0];
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), { audience: backend.url });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.email, 'alice@example.com');
    assert.equal(payload.user_iss, idp.issuer);
    assert.doesNotMatch(String(backend.last()!.headers.cookie ?? ''), /endpoints_/, 'the session cookie stays at the gateway');
  });

  test('sign-out without an end_session_endpoint: the cookie is cleared and the browser lands on this origin', async () => {
    const { jar } = await signIn('/app/x');
    const r = await hop(jar, `${gw.url}/.endpoints/sign_out`, { method: 'POST', headers: { origin: gw.publicUrl }, body: '' });
    assert.equal(r.status, 303);
    assert.equal(r.location, `${gw.publicUrl}/`);
    assert.ok(r.setCookies.some((c) => /^endpoints_session=; Path=\/; Max-Age=0/.test(c)), r.setCookies.join('\n'));
    assert.equal(jar.get(SESSION), undefined);
  });

  test('an authorizationUrl the discovery document contradicts: no redirect to it, a 502 page and a log line naming both', async () => {
    const r = await hop(new Jar(), `${mismatched.url}/app/x`);
    assert.equal(r.status, 502, r.body);
    assert.equal(r.location, undefined);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const line = await mismatched.waitForLog((l) => l.message === 'sign-in: OpenID discovery failed');
    assert.match(String(line.err), /authorizationUrl is .*\/somewhere-else but the issuer's discovery document says .*\/auth/);
  });
});
