// Browser sign-in without a browser: the flow's refusals and the session's
// rules, over plain HTTP against a real OpenID provider (oidc-provider), real
// gateway processes and the metadata-server emulator for backend ID tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { createKey } from '../../src/auth/apikeys/keys-admin.ts';
import { createSealedCookieCodec } from '../../src/signin/sealed-cookie.ts';
import { openSession, sealSession } from '../../src/signin/session.ts';
import { safeReturnPath } from '../../src/signin/flow.ts';
import { startProvider, type TestProvider } from './provider.ts';
import { API, clientUris, hop, Jar, NAV, OTHER_SECRET, SECRET, signinSpec, startSigninGateway, walk, type SigninGateway, closeAllSigninGateways } from './harness.ts';

const SESSION = 'endpoints_session';
const FLOW = 'endpoints_signin';
/** The origin browsers use for `proxied`, as its front end says in Host and X-Forwarded-Proto. */
const PROXIED_ORIGIN = 'https://app.example.test';

let meta: MetadataEmulator;
let backend: TestBackend;
let idp: TestProvider;
let gw: SigninGateway;
/** Same secret, same app (public URL), another process. */
let twin: SigninGateway;
/** Rotated: a new secret first, ours as the previous one (an app of its own origin). */
let rotated: SigninGateway;
/** Behind a proxy (--trusted-hops 1, no --public-url): its origin comes from X-Forwarded-Proto/Host. */
let proxied: SigninGateway;
let dir: string;
let apiKey: string;
/** A backend that sets its own cookie on every response. */
let cookieApp: http.Server;

before(async () => {
  meta = await startMetadataEmulator();
  backend = await startTestBackend();
  // The issuer first; the client's redirect URIs once the gateways have their ports.
  idp = await startProvider();
  dir = await mkdtemp(path.join(tmpdir(), 'signin-http-'));
  const store = path.join(dir, 'keys.yaml');
  ({ key: apiKey } = await createKey(store, { project: '123456789012', name: 'k', services: ['signin-test.endpoints.test-project.cloud.goog'] }));
  const secretFile = path.join(dir, 'session-secrets');
  await writeFile(secretFile, `# current first, then the previous one\n${OTHER_SECRET}\n${SECRET}\n`);
  const clientSecretFile = path.join(dir, 'client-secret');
  await writeFile(clientSecretFile, `${idp.clientSecret}\n`);
  cookieApp = http.createServer((_req, res) => res.writeHead(200, { 'set-cookie': 'app_pref=1; Path=/' }).end('ok'));
  cookieApp.listen(0, '127.0.0.1');
  await once(cookieApp, 'listening');
  const spec = signinSpec(idp.issuer, idp.clientId, backend.url);
  (spec.paths as Record<string, unknown>)['/sets-cookie'] = {
    get: { operationId: 'setsCookie', security: [{ signin: [] }], 'x-google-backend': { address: `http://127.0.0.1:${(cookieApp.address() as AddressInfo).port}` }, responses: { '200': { description: 'ok' } } },
  };
  // Programs holding an ID token of the same provider: a JWT alternative next to sign-in.
  Object.assign((spec.securityDefinitions as Record<string, unknown>), {
    idp_jwt: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': idp.issuer, 'x-google-audiences': idp.clientId },
  });
  (spec.paths as Record<string, unknown>)['/api'] = { get: { operationId: 'api', security: [{ signin: [] }, { idp_jwt: [] }], responses: { '200': { description: 'ok' } } } };
  const env = { METADATA_SERVER_DETECTION: 'assume-present', GCE_METADATA_HOST: meta.host, GOOGLE_CLOUD_PROJECT: 'test-project' };
  const args = ['--keys', `file:${store}`, '--backend-auth', 'google', '--signin-client-secret-file', clientSecretFile];
  [gw, rotated, proxied] = await Promise.all([
    startSigninGateway(spec, { args, env }),
    startSigninGateway(spec, { args: [...args, '--session-secret-file', secretFile], env: { ...env, ENDPOINTS_SESSION_SECRET: '' } }),
    startSigninGateway(spec, { args: [...args, '--trusted-hops', '1'], publicUrl: false, env }),
  ]);
  twin = await startSigninGateway(spec, { args, env, publicUrl: gw.publicUrl });
  const uris = clientUris([gw, rotated, { publicUrl: PROXIED_ORIGIN }]);
  idp.register(uris);
});

after(async () => {
  await closeAllSigninGateways();
  await idp?.close();
  await backend?.close();
  cookieApp?.closeAllConnections();
  await new Promise((r) => (cookieApp ? cookieApp.close(r) : r(undefined)));
  await meta?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Signs `login` in at `g` through the provider's forms; the jar then holds the session cookie. */
async function signIn(g: SigninGateway, login: string, target = '/app/hello?x=1'): Promise<Jar> {
  const jar = new Jar();
  const { last, hops } = await walk(jar, `${g.url}${target}`, login);
  assert.ok(hops.some((h) => h.url.startsWith(`${g.publicUrl}/.endpoints/callback`)), 'went through the callback');
  assert.ok(jar.get(SESSION), `a session cookie is set (last: ${last.status} ${last.url} ${last.body.slice(0, 200)})`);
  return jar;
}

describe('sign-in over plain HTTP', () => {
  test('a browser without a session is sent to the provider with PKCE S256, state and nonce, bound to a flow cookie', async () => {
    const h = await hop(new Jar(), `${gw.url}/app/hello`);
    assert.equal(h.status, 302, h.body);
    const loc = new URL(h.location!);
    assert.equal(`${loc.origin}${loc.pathname}`, `${idp.issuer}/auth`);
    assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
    assert.match(loc.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.ok(loc.searchParams.get('state'));
    assert.ok(loc.searchParams.get('nonce'));
    assert.equal(loc.searchParams.get('redirect_uri'), `${gw.publicUrl}/.endpoints/callback`);
    assert.equal(loc.searchParams.get('client_id'), idp.clientId);
    assert.equal(loc.searchParams.get('scope'), 'openid email profile groups offline_access');
    const flow = h.setCookies.find((c) => c.startsWith(`${FLOW}=`));
    assert.ok(flow);
    assert.match(flow, /HttpOnly/);
    assert.match(flow, /SameSite=Lax/);
    assert.match(flow, /Path=\//);
    assert.equal(h.headers.get('cache-control'), 'no-store');
    assert.match(h.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  });

  test('signing in lands on the page first asked for; the backend gets the ID token in X-Serverless-Authorization and the user, never the session cookie', async () => {
    const jar = await signIn(gw, 'alice');
    const session = jar.get(SESSION)!;
    backend.clear();
    const r = await hop(jar, `${gw.url}/app/hello?x=1`, { headers: { cookie: `theme=dark; ${SESSION}=${session}`, authorization: 'Bearer the-apps-own-token' } });
    assert.equal(r.status, 200, r.body);
    const seen = backend.last()!;
    assert.equal(seen.url, '/app/hello?x=1');
    assert.equal(seen.headers.cookie, 'theme=dark');
    assert.equal(seen.headers.authorization, 'Bearer the-apps-own-token');
    const token = String(seen.headers['x-serverless-authorization']).replace(/^Bearer /, '');
    const claims = await meta.verify(token, backend.url);
    assert.equal(claims.iss, 'https://accounts.google.com');
    const user = JSON.parse(Buffer.from(String(seen.headers['x-endpoint-api-userinfo']), 'base64url').toString('utf8'));
    assert.equal(user.sub, 'alice');
    assert.equal(user.email, 'alice@example.com');
    assert.equal(user.iss, idp.issuer);
    assert.deepEqual(user.groups, ['eng', 'staff']);
    assert.equal(user.rt, undefined, 'the refresh token never leaves the cookie');
    // An operation without sign-in does not forward the gateway's cookies either.
    backend.clear();
    const open = await hop(jar, `${gw.url}/open`, { headers: { cookie: `theme=dark; ${SESSION}=${session}; ${FLOW}=x` } });
    assert.equal(open.status, 200, open.body);
    assert.equal(backend.last()!.headers.cookie, 'theme=dark');
  });

  test('the session cookie is HttpOnly, SameSite=Lax, Path=/, and holds no readable claims', async () => {
    const jar = new Jar();
    const { hops } = await walk(jar, `${gw.url}/app/x`, 'alice');
    const cb = hops.find((h) => h.url.startsWith(`${gw.url}/.endpoints/callback`))!;
    assert.equal(cb.status, 302);
    assert.equal(cb.location, `${gw.publicUrl}/app/x`);
    const set = cb.setCookies.find((c) => c.startsWith(`${SESSION}=`))!;
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Lax/);
    assert.match(set, /Path=\//);
    assert.match(set, /Max-Age=43\d{3}/);
    const value = jar.get(SESSION)!;
    assert.equal(value.split('.').length, 5, 'a compact JWE');
    assert.ok(!Buffer.from(value.split('.')[0]!, 'base64url').toString().includes('alice'));
    assert.ok(!value.includes('alice'));
    assert.ok(cb.setCookies.some((c) => c.startsWith(`${FLOW}=;`)), 'the flow cookie is cleared');
    assert.equal(cb.headers.get('cache-control'), 'no-store');
  });
});

describe('the origin and the cookie names', () => {
  test('with --public-url, a caller-sent Host never names the redirect URI', async () => {
    const h = await hop(new Jar(), `${gw.url}/app/x`, { headers: { host: 'evil.example' } });
    assert.equal(h.status, 302);
    assert.equal(new URL(h.location!).searchParams.get('redirect_uri'), `${gw.publicUrl}/.endpoints/callback`);
  });

  test('behind a trusted proxy on https: the origin comes from its Host and X-Forwarded-Proto, the cookies are __Host- and Secure', async () => {
    const jar = new Jar();
    const front = { host: 'app.example.test', 'x-forwarded-proto': 'https' };
    const h = await hop(jar, `${proxied.url}/app/x`, {
      headers: { ...front, 'x-forwarded-host': 'evil.example', 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(h.status, 302, h.body);
    assert.equal(new URL(h.location!).searchParams.get('redirect_uri'), 'https://app.example.test/.endpoints/callback');
    const flow = h.setCookies.find((c) => c.startsWith(`__Host-${FLOW}=`));
    assert.ok(flow, h.setCookies.join('\n'));
    assert.match(flow, /; Secure/);
    assert.match(flow, /Path=\//);
    assert.doesNotMatch(flow, /Domain=/i);
    // Through the provider to the callback, which the proxy in front would hand to the gateway.
    const { stoppedAt } = await walk(jar, h.location!, 'alice', (u) => u.startsWith(`${PROXIED_ORIGIN}/.endpoints/callback`));
    assert.ok(stoppedAt, 'reached the callback');
    const cb = await hop(jar, `${proxied.url}${stoppedAt.slice(PROXIED_ORIGIN.length)}`, { headers: front });
    assert.equal(cb.status, 302, cb.body);
    assert.equal(cb.headers.get('location'), '/app/x', 'a path: it stays on whatever origin the browser is on');
    const session = cb.setCookies.find((c) => c.startsWith(`__Host-${SESSION}=`));
    assert.ok(session, cb.setCookies.join('\n'));
    assert.match(session, /; Path=\/;.*; HttpOnly; SameSite=Lax; Secure$/);
    assert.doesNotMatch(session, /Domain=/i);
    // The unprefixed name means nothing over https: a sibling subdomain could have planted it.
    const value = jar.get(`__Host-${SESSION}`)!;
    assert.equal((await hop(new Jar(), `${proxied.url}/app/x`, { headers: { ...front, ...API, cookie: `__Host-${SESSION}=${value}` } })).status, 200);
    assert.equal((await hop(new Jar(), `${proxied.url}/app/x`, { headers: { ...front, ...API, cookie: `${SESSION}=${value}` } })).status, 401);
  });
});

describe('programs and other credentials', () => {
  test('[{signin}, {idp_jwt}]: a program with an ID token from the same provider passes, a session passes too', async () => {
    const jar = await signIn(gw, 'carol', '/api');
    assert.equal((await hop(jar, `${gw.url}/api`, { headers: API })).status, 200);
    // An ID token of carol's, from the provider's token endpoint (refresh grant with the session's refresh token).
    const s = (await openSession(createSealedCookieCodec([SECRET], 'session'), jar.get(SESSION)!))!;
    const tr = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${idp.clientId}:${idp.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: s.rt! }).toString(),
    });
    const { id_token } = (await tr.json()) as { id_token: string };
    backend.clear();
    const r = await hop(new Jar(), `${gw.url}/api`, { headers: { ...API, authorization: `Bearer ${id_token}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.headers['x-endpoint-api-userinfo'], id_token.split('.')[1]);
    assert.equal((await hop(new Jar(), `${gw.url}/api`, { headers: { ...API, authorization: 'Bearer not.a.token' } })).status, 401);
  });

  test('a program without a cookie gets JSON 401, never a login page', async () => {
    const r = await hop(new Jar(), `${gw.url}/app/hello`, { headers: API });
    assert.equal(r.status, 401);
    assert.equal(r.location, undefined);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(JSON.parse(r.body).code, 401);
    const curl = await hop(new Jar(), `${gw.url}/app/hello`, { headers: { 'sec-fetch-mode': '', accept: '*/*' } });
    assert.equal(curl.status, 401, 'Accept: */* is not a browser');
    const oldBrowser = await hop(new Jar(), `${gw.url}/app/hello`, { headers: { 'sec-fetch-mode': '', accept: 'text/html,*/*;q=0.8' } });
    assert.equal(oldBrowser.status, 302, 'without Sec-Fetch-Mode, an Accept preferring HTML is a navigation');
  });

  test('[{signin}, {api_key}]: an API key passes without a session, a session passes without a key', async () => {
    const noCred = await hop(new Jar(), `${gw.url}/mixed`, { headers: API });
    assert.equal(noCred.status, 401);
    const keyed = await hop(new Jar(), `${gw.url}/mixed?key=${apiKey}`, { headers: API });
    assert.equal(keyed.status, 200, keyed.body);
    const jar = await signIn(gw, 'bob', '/mixed');
    const withSession = await hop(jar, `${gw.url}/mixed`, { headers: API });
    assert.equal(withSession.status, 200, withSession.body);
  });
});

describe('sessions that count as none', () => {
  test('a tampered cookie: the browser is sent to sign in, a program gets 401', async () => {
    const jar = await signIn(gw, 'alice');
    const v = jar.get(SESSION)!;
    const parts = v.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString('base64url');
    jar.set(SESSION, parts.join('.'));
    assert.equal((await hop(jar, `${gw.url}/app/hello`, { headers: API })).status, 401);
    const nav = await hop(jar, `${gw.url}/app/hello`);
    assert.equal(nav.status, 302);
    assert.ok(nav.location!.startsWith(`${idp.issuer}/auth?`));
  });

  test('an expired session is refused', async () => {
    const jar = await signIn(gw, 'alice');
    const codec = createSealedCookieCodec([SECRET], 'session');
    const s = (await openSession(codec, jar.get(SESSION)!))!;
    const expired = await sealSession(codec, { ...s, exp: Math.floor(Date.now() / 1000) - 5 });
    assert.equal((await hop(jar, `${gw.url}/app/hello`, { headers: { ...API, cookie: `${SESSION}=${expired}` } })).status, 401);
  });

  test('a cookie sealed with another secret is refused; a rotated gateway still accepts the previous secret', async () => {
    const jar = await signIn(gw, 'alice');
    const previous = createSealedCookieCodec([SECRET], 'session');
    const current = createSealedCookieCodec([OTHER_SECRET], 'session');
    const s = (await openSession(previous, jar.get(SESSION)!))!;
    // `rotated` lists our secret as the previous one: sessions made on its origin before the rotation keep working.
    const before = { cookie: `${SESSION}=${await sealSession(previous, { ...s, or: rotated.publicUrl })}` };
    assert.equal((await hop(new Jar(), `${rotated.url}/app/hello`, { headers: { ...API, ...before } })).status, 200);
    // A session `rotated` makes uses its new secret, which `gw` does not know (even sealed for gw's origin).
    const fresh = await signIn(rotated, 'alice');
    const theirs = { cookie: `${SESSION}=${fresh.get(SESSION)!}` };
    assert.equal((await hop(fresh, `${rotated.url}/app/hello`, { headers: { ...API, ...theirs } })).status, 200);
    const t = (await openSession(current, fresh.get(SESSION)!))!;
    const forGw = { cookie: `${SESSION}=${await sealSession(current, { ...t, or: gw.publicUrl })}` };
    assert.equal((await hop(new Jar(), `${gw.url}/app/hello`, { headers: { ...API, ...forGw } })).status, 401);
  });

  test('a session is bound to its origin: the same secret and client on another origin refuse it', async () => {
    const jar = await signIn(gw, 'alice');
    const codec = createSealedCookieCodec([SECRET], 'session');
    const s = (await openSession(codec, jar.get(SESSION)!))!;
    assert.equal(s.or, gw.publicUrl);
    assert.equal(s.aud, idp.clientId);
    const elsewhere = { cookie: `${SESSION}=${await sealSession(codec, { ...s, or: 'http://127.0.0.1:1' })}` };
    assert.equal((await hop(new Jar(), `${gw.url}/app/hello`, { headers: { ...API, ...elsewhere } })).status, 401);
    const otherClient = { cookie: `${SESSION}=${await sealSession(codec, { ...s, aud: 'another-app' })}` };
    assert.equal((await hop(new Jar(), `${gw.url}/app/hello`, { headers: { ...API, ...otherClient } })).status, 401);
  });

  test('two gateway processes of one app (one public URL, one secret) accept each other\'s sessions (no sticky sessions)', async () => {
    const a = await signIn(gw, 'alice');
    const b = await signIn(twin, 'carol');
    assert.equal((await hop(a, `${twin.url}/app/hello`, { headers: API })).status, 200);
    assert.equal((await hop(b, `${gw.url}/app/hello`, { headers: API })).status, 200);
  });
});

describe('the callback refuses', () => {
  /** Runs a sign-in up to the callback and returns its URL, without calling it. */
  async function upToCallback(g: SigninGateway, login = 'alice'): Promise<{ jar: Jar; callback: string }> {
    const jar = new Jar();
    const { stoppedAt } = await walk(jar, `${g.url}/app/somewhere`, login, (u) => u.includes('/.endpoints/callback'));
    assert.ok(stoppedAt, 'reached the callback');
    return { jar, callback: stoppedAt };
  }

  function refusedPage(h: { status: number; setCookies: string[]; headers: Headers; body: string }) {
    assert.equal(h.status, 400, h.body);
    assert.ok(!h.setCookies.some((c) => c.startsWith(`${SESSION}=`) && !c.startsWith(`${SESSION}=;`)), 'no session is set');
    assert.match(h.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(h.headers.get('cache-control'), 'no-store');
    assert.match(h.headers.get('content-security-policy') ?? '', /^default-src 'none'; style-src 'sha256-[^']+'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'$/);
    assert.match(h.body, /Sign-in failed/);
  }

  test('a state that does not match the flow cookie', async () => {
    const { jar, callback } = await upToCallback(gw);
    const u = new URL(callback);
    u.searchParams.set('state', 'someone-elses-state');
    refusedPage(await hop(jar, u.href));
    assert.equal(jar.get(SESSION), undefined);
  });

  test('a callback without the flow cookie (no PKCE verifier)', async () => {
    const { jar, callback } = await upToCallback(gw);
    jar.delete(FLOW);
    refusedPage(await hop(jar, callback));
  });

  test('an expired sign-in (flow cookie past its end): refused, the code is never exchanged', async () => {
    const { jar, callback } = await upToCallback(gw);
    const codec = createSealedCookieCodec([SECRET], 'signin-flow');
    const claims = (await codec.open(jar.get(FLOW)!))!;
    jar.set(FLOW, await codec.seal(claims, Math.floor(Date.now() / 1000) - 5));
    const before = idp.seen.filter((s) => s === 'POST /token').length;
    refusedPage(await hop(jar, callback));
    assert.equal(idp.seen.filter((s) => s === 'POST /token').length, before);
  });

  test('an ID token whose nonce is not the one this browser sent: refused after the exchange', async () => {
    const { jar, callback } = await upToCallback(gw);
    const codec = createSealedCookieCodec([SECRET], 'signin-flow');
    const claims = (await codec.open(jar.get(FLOW)!))!;
    jar.set(FLOW, await codec.seal({ ...claims, no: 'a-nonce-from-another-sign-in' }, Math.floor(Date.now() / 1000) + 600));
    const before = idp.seen.filter((s) => s === 'POST /token').length;
    refusedPage(await hop(jar, callback));
    assert.equal(idp.seen.filter((s) => s === 'POST /token').length, before + 1, 'the code was exchanged; the ID token was refused');
  });

  test('a replayed code: same gateway, and another process that never saw it', async () => {
    const { jar, callback } = await upToCallback(gw);
    const flow = jar.get(FLOW)!;
    const first = await hop(jar, callback);
    assert.equal(first.status, 302);
    assert.ok(jar.get(SESSION));
    // The attacker kept both the callback URL and the flow cookie.
    const thief = new Jar();
    thief.set(FLOW, flow);
    refusedPage(await hop(thief, callback));
    // On another instance the state is new: the provider refuses the used code.
    const other = new URL(callback);
    const twinCallback = `${twin.url}${other.pathname}${other.search}`;
    const flowOnTwin = new Jar();
    // The flow cookie names its origin: re-seal it for the twin's, as a thief with the secret could not, to reach the code exchange.
    const codec = createSealedCookieCodec([SECRET], 'signin-flow');
    const claims = (await codec.open(flow))!;
    flowOnTwin.set(FLOW, await codec.seal({ ...claims, or: twin.publicUrl }, Math.floor(Date.now() / 1000) + 600));
    const before = idp.seen.filter((s) => s === 'POST /token').length;
    refusedPage(await hop(flowOnTwin, twinCallback));
    assert.equal(idp.seen.filter((s) => s === 'POST /token').length, before + 1, 'the provider was asked, and refused');
  });

  test('an open redirect: the return target is always a path on this origin', async () => {
    const codec = createSealedCookieCodec([SECRET], 'signin-flow');
    // Even a flow cookie naming another target (sealed with the secret: no caller can make one) lands on this origin.
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)']) {
      const { jar, callback } = await upToCallback(gw);
      const claims = (await codec.open(jar.get(FLOW)!))!;
      assert.equal(claims.rt, '/app/somewhere');
      jar.set(FLOW, await codec.seal({ ...claims, rt: evil }, Math.floor(Date.now() / 1000) + 600));
      const r = await hop(jar, callback);
      assert.equal(r.status, 302);
      assert.equal(r.location, `${gw.publicUrl}/`, evil);
    }
    // A navigation whose own target would leave the origin never starts a sign-in.
    const odd = await hop(new Jar(), `${gw.url}//evil.example/app/x`);
    assert.notEqual(odd.status, 302);
    assert.equal(safeReturnPath('//evil.example'), '/');
    assert.equal(safeReturnPath('/app/x?y=1'), '/app/x?y=1');
  });
});

describe('authorization for signed-in users', () => {
  test('groups: a browser outside the group gets an HTML 403 naming the account with a sign-out link; a program gets JSON 403', async () => {
    const bob = await signIn(gw, 'bob', '/');
    const page = await hop(bob, `${gw.url}/eng`);
    assert.equal(page.status, 403);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.body, /bob@other\.org/);
    assert.match(page.body, /href="\/\.endpoints\/sign_out"/);
    const json = await hop(bob, `${gw.url}/eng`, { headers: API });
    assert.equal(json.status, 403);
    assert.deepEqual(JSON.parse(json.body), { code: 403, message: 'PERMISSION_DENIED: The caller is in none of the groups allowed to call this method.' });
    const alice = await signIn(gw, 'alice', '/eng');
    assert.equal((await hop(alice, `${gw.url}/eng`)).status, 200);
  });

  test('claims: a claim a rule names is kept in the session (and only then)', async () => {
    const alice = await signIn(gw, 'alice', '/dept');
    backend.clear();
    assert.equal((await hop(alice, `${gw.url}/dept`, { headers: API })).status, 200);
    const user = JSON.parse(Buffer.from(String(backend.last()!.headers['x-endpoint-api-userinfo']), 'base64url').toString('utf8'));
    assert.equal(user.department, 'engineering');
    assert.equal(user.nonce, undefined);
    const carol = await signIn(gw, 'carol', '/');
    assert.equal((await hop(carol, `${gw.url}/dept`, { headers: API })).status, 403);
  });

  test('email_domains: bob@other.org is refused on /app, alice@example.com is let in', async () => {
    const bob = await signIn(gw, 'bob', '/');
    const page = await hop(bob, `${gw.url}/app/x`);
    assert.equal(page.status, 403);
    assert.match(page.body, /bob@other\.org/);
    const json = await hop(bob, `${gw.url}/app/x`, { headers: API });
    assert.equal(JSON.parse(json.body).message, "PERMISSION_DENIED: The caller's email is not allowed to call this method.");
  });
});

describe('refresh and sign-out', () => {
  test('an identity older than the refresh interval is renewed with the refresh token (offline_access); the expiry stays', async () => {
    const jar = await signIn(gw, 'alice');
    const codec = createSealedCookieCodec([SECRET], 'session');
    const s = (await openSession(codec, jar.get(SESSION)!))!;
    assert.ok(s.rt, 'a refresh token is kept, encrypted');
    const stale = await sealSession(codec, { ...s, rf: s.rf - 7200 });
    jar.set(SESSION, stale);
    const before = idp.seen.filter((x) => x === 'POST /token').length;
    const r = await hop(jar, `${gw.url}/app/hello`, { headers: API });
    assert.equal(r.status, 200);
    assert.equal(idp.seen.filter((x) => x === 'POST /token').length, before + 1);
    const renewed = (await openSession(codec, jar.get(SESSION)!))!;
    assert.equal(renewed.exp, s.exp, 'a refresh never moves the absolute expiry');
    assert.ok(renewed.rf > s.rf - 7200);
    assert.equal(renewed.identity.email, 'alice@example.com');
  });

  test("a refreshed cookie rides along with the backend's own Set-Cookie", async () => {
    const jar = await signIn(gw, 'alice');
    const codec = createSealedCookieCodec([SECRET], 'session');
    const s = (await openSession(codec, jar.get(SESSION)!))!;
    jar.set(SESSION, await sealSession(codec, { ...s, rf: s.rf - 7200 }));
    const r = await hop(jar, `${gw.url}/sets-cookie`, { headers: API });
    assert.equal(r.status, 200, r.body);
    assert.ok(r.setCookies.some((c) => c.startsWith('app_pref=1')), r.setCookies.join('\n'));
    assert.ok(r.setCookies.some((c) => c.startsWith(`${SESSION}=`)), r.setCookies.join('\n'));
  });

  test('sign-out: a GET shows a button; the POST clears the cookie and sends the browser to the provider\'s end_session_endpoint with a same-origin return', async () => {
    const jar = await signIn(gw, 'alice');
    const ask = await hop(jar, `${gw.url}/.endpoints/sign_out`);
    assert.equal(ask.status, 200);
    assert.equal(ask.setCookies.length, 0, 'a GET changes nothing');
    assert.match(ask.body, /<form method="post" action="\/\.endpoints\/sign_out">/);
    assert.match(ask.body, /alice@example\.com/);
    const r = await hop(jar, `${gw.url}/.endpoints/sign_out`, { method: 'POST', headers: { origin: gw.publicUrl, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(r.status, 303);
    const loc = new URL(r.location!);
    assert.equal(`${loc.origin}${loc.pathname}`, `${idp.issuer}/session/end`);
    assert.equal(loc.searchParams.get('post_logout_redirect_uri'), `${gw.publicUrl}/`);
    assert.equal(loc.searchParams.get('client_id'), idp.clientId);
    assert.ok(r.setCookies.some((c) => /^endpoints_session=; Path=\/; Max-Age=0/.test(c)));
    assert.equal(jar.get(SESSION), undefined);
    assert.equal((await hop(jar, `${gw.url}/app/hello`)).status, 302, 'signed out: sent to sign in again');
  });

  test('the reserved paths are never proxied', async () => {
    backend.clear();
    assert.equal((await hop(new Jar(), `${gw.url}/.endpoints/callback?code=x&state=y`)).status, 400);
    assert.equal((await hop(new Jar(), `${gw.url}/.endpoints/callback`, { method: 'POST', body: '' })).status, 405);
    assert.equal(backend.requests.length, 0);
  });
});
