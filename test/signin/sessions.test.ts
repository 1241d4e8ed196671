// Sessions that end when they should and stay where they belong: the
// absolute lifetime with refresh, sign-out that ends the session (and only
// from the gateway's own pages), sessions bound to their app, the Redis
// session store shared by two instances, `sessions list|revoke`, large
// identities and /.endpoints/userinfo. Real oidc-provider, real gateway
// processes, real redis-server, the real CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { runCli } from '../helpers/cli.ts';
import { createSealedCookieCodec } from '../../src/signin/sealed-cookie.ts';
import { openSession, sealSession } from '../../src/signin/session.ts';
import { storeId } from '../../src/signin/session-store.ts';
import { startProvider, type TestProvider } from './provider.ts';
import { API, clientUris, hop, Jar, SECRET, signinSpec, startSigninGateway, walk, type SigninGateway, closeAllSigninGateways } from './harness.ts';

const SESSION = 'endpoints_session';
const nowS = () => Math.floor(Date.now() / 1000);
const codec = createSealedCookieCodec([SECRET], 'session');

let backend: TestBackend;
let idp: TestProvider;
let redis: TestRedis;
let dir: string;
/** Cookie mode, 12 h. */
let cookieA: SigninGateway;
/** Another app (client app-b) on A's origin, sharing A's secret. */
let appB: SigninGateway;
/** Cookie mode, --session-ttl 6s: refreshes after 3 s. */
let short: SigninGateway;
/** Two instances of one app sharing the Redis store. */
let store1: SigninGateway;
let store2: SigninGateway;
/** Store mode with --session-idle-timeout 2s. */
let idle: SigninGateway;

before(async () => {
  backend = await startTestBackend();
  redis = await startRedis();
  idp = await startProvider();
  dir = await mkdtemp(path.join(tmpdir(), 'signin-sessions-'));
  const env = { ENDPOINTS_SIGNIN_CLIENT_SECRET: idp.clientSecret };
  const args = ['--keys', 'none', '--backend-auth', 'none'];
  const spec = signinSpec(idp.issuer, idp.clientId, backend.url);
  const storeArgs = [...args, '--session-store', redis.url];
  [cookieA, short, store1, idle] = await Promise.all([
    startSigninGateway(spec, { args, env }),
    startSigninGateway(spec, { args: [...args, '--session-ttl', '6s'], env }),
    startSigninGateway(spec, { args: storeArgs, env }),
    startSigninGateway(spec, { args: [...storeArgs, '--session-idle-timeout', '2s'], env }),
  ]);
  [appB, store2] = await Promise.all([
    startSigninGateway(signinSpec(idp.issuer, 'app-b', backend.url), { args, env, publicUrl: cookieA.publicUrl }),
    startSigninGateway(spec, { args: storeArgs, env, publicUrl: store1.publicUrl }),
  ]);
  idp.register(clientUris([cookieA, short, store1, idle]), [{ clientId: 'app-b', ...clientUris([appB]) }]);
});

after(async () => {
  await closeAllSigninGateways();
  await idp?.close();
  await redis?.stop();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function signIn(g: SigninGateway, login: string, target = '/app/hello'): Promise<Jar> {
  const jar = new Jar();
  const { last, hops } = await walk(jar, `${g.url}${target}`, login);
  const callback = hops.find((h) => h.url.startsWith(`${g.publicUrl}/.endpoints/callback`));
  assert.ok(callback, 'went through the callback');
  assert.equal(callback.status, 302, callback.body);
  assert.ok(jar.get(SESSION), `a session cookie is set (last: ${last.status} ${last.url})`);
  return jar;
}

const withCookie = (value: string) => ({ ...API, cookie: `${SESSION}=${value}` });
const tokenCalls = () => idp.seen.filter((s) => s === 'POST /token').length;
const signOut = (jar: Jar, g: SigninGateway, headers: Record<string, string> = { origin: g.publicUrl }) =>
  hop(jar, `${g.url}/.endpoints/sign_out`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: '' });

/** Polls `check` until it returns true (generous bound: the machine may be loaded). */
async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the lifetime is absolute', () => {
  test('with refresh tokens, a 6 s session is renewed inside its lifetime and ends at its expiry; its copies cannot renew themselves past it', async () => {
    const jar = await signIn(short, 'alice');
    const first = jar.get(SESSION)!;
    const s = (await openSession(codec, first))!;
    assert.ok(s.rt, 'offline access granted');
    assert.ok(s.exp - s.iat <= 6, `exp - iat = ${s.exp - s.iat}: the lifetime given, not raised`);
    const atSignIn = tokenCalls();
    let refusedAt = 0;
    const renewedExps: number[] = [];
    await until('the session is refused', async () => {
      const r = await hop(jar, `${short.url}/app/hello`, { headers: API });
      if (r.status === 200) {
        const renewed = r.setCookies.find((c) => c.startsWith(`${SESSION}=`));
        const opened = renewed ? await openSession(codec, jar.get(SESSION)!) : undefined;
        if (opened) renewedExps.push(opened.exp);
        return false;
      }
      assert.equal(r.status, 401, r.body);
      refusedAt = Date.now() / 1000;
      return true;
    });
    // The gateway refused at or before the moment the answer came: never before the expiry.
    assert.ok(refusedAt >= s.exp, `refused at ${refusedAt}, before the expiry ${s.exp}`);
    assert.ok(tokenCalls() > atSignIn, 'the provider was asked to refresh within the lifetime');
    const last = jar.get(SESSION)!;
    assert.notEqual(last, first, 'a refreshed cookie was set');
    assert.ok(renewedExps.length > 0 && renewedExps.every((e) => e === s.exp), `renewed cookies expire at ${renewedExps.join(', ')}, not ${s.exp}`);
    const calls = tokenCalls();
    for (const copy of [first, last]) assert.equal((await hop(new Jar(), `${short.url}/app/hello`, { headers: withCookie(copy) })).status, 401);
    assert.equal(tokenCalls(), calls, 'no refresh after the expiry');
  });

  test('a lifetime the gateway cannot honour is refused at start, with the reason', async () => {
    const file = path.join(dir, 'spec.json');
    await writeFile(file, JSON.stringify(signinSpec(idp.issuer, idp.clientId, backend.url)));
    const base = ['serve', '--spec', file, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none', '--public-url', 'https://app.example.com'];
    const env = { ENDPOINTS_SESSION_SECRET: SECRET };
    const sub = await runCli([...base, '--session-ttl', '1500ms'], { env });
    assert.notEqual(sub.code, 0);
    assert.match(sub.stderr + sub.stdout, /--session-ttl: 1500 ms is not a whole number of seconds/);
    const idleless = await runCli([...base, '--session-idle-timeout', '5m'], { env });
    assert.notEqual(idleless.code, 0);
    assert.match(idleless.stderr + idleless.stdout, /--session-idle-timeout needs --session-store/);
    const badStore = await runCli([...base, '--session-store', 'memcached://x'], { env });
    assert.notEqual(badStore.code, 0);
    assert.match(badStore.stderr + badStore.stdout, /--session-store memcached:\/\/x: expected redis:\/\//);
  });
});

describe('sign-out', () => {
  test('store mode: a copy of the cookie taken before sign-out is refused on every instance; the refresh token is revoked', async () => {
    const jar = await signIn(store1, 'alice');
    const copy = jar.get(SESSION)!;
    const sealed = await createSealedCookieCodec([SECRET], 'session').open(copy);
    assert.deepEqual(Object.keys(sealed!).filter((k) => !['exp', 'iat'].includes(k)), ['sid'], 'the cookie carries an opaque id only');
    for (const g of [store1, store2]) assert.equal((await hop(new Jar(), `${g.url}/app/hello`, { headers: withCookie(copy) })).status, 200);
    const revocations = idp.seen.filter((s) => s === 'POST /token/revocation').length;
    const out = await signOut(jar, store1);
    assert.equal(out.status, 303, out.body);
    assert.equal(jar.get(SESSION), undefined);
    assert.equal(idp.seen.filter((s) => s === 'POST /token/revocation').length, revocations + 1, 'the refresh token was revoked');
    for (const g of [store1, store2]) {
      assert.equal((await hop(new Jar(), `${g.url}/app/hello`, { headers: withCookie(copy) })).status, 401);
      const nav = await hop(new Jar(), `${g.url}/app/hello`, { headers: { cookie: `${SESSION}=${copy}` } });
      assert.equal(nav.status, 302);
      assert.ok(nav.location!.startsWith(`${idp.issuer}/auth?`));
    }
  });

  test('cookie mode: sign-out revokes the refresh token, so a copy of the cookie cannot renew itself', async () => {
    const jar = await signIn(cookieA, 'alice');
    const s = (await openSession(codec, jar.get(SESSION)!))!;
    assert.equal((await signOut(jar, cookieA)).status, 303);
    // The copy's identity is due for renewal (as an hour later): the provider refuses the revoked token and the session ends.
    const due = await sealSession(codec, { ...s, rf: s.rf - 7200 });
    const calls = tokenCalls();
    assert.equal((await hop(new Jar(), `${cookieA.url}/app/hello`, { headers: withCookie(due) })).status, 401);
    assert.equal(tokenCalls(), calls + 1, 'the refresh was tried, and refused');
  });

  test('never from another site: a GET shows a button, a POST from another origin or without one is refused', async () => {
    const jar = await signIn(store1, 'carol', '/');
    const cookie = jar.get(SESSION)!;
    const works = async () => (await hop(new Jar(), `${store1.url}/`, { headers: withCookie(cookie) })).status === 200;
    const get = await hop(jar, `${store1.url}/.endpoints/sign_out`);
    assert.equal(get.status, 200);
    assert.equal(get.setCookies.length, 0);
    assert.match(get.body, /<button type="submit" id="sign-out">Sign out<\/button>/);
    const attempts: Record<string, string>[] = [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }, { 'sec-fetch-site': 'same-site' }, {}];
    for (const headers of attempts) {
      const r = await signOut(jar, store1, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.setCookies.length, 0);
    }
    assert.equal(jar.get(SESSION), cookie);
    assert.ok(await works(), 'still signed in');
    assert.equal((await signOut(jar, store1, { 'sec-fetch-site': 'same-origin' })).status, 303);
    assert.equal(await works(), false);
  });
});

describe('sessions stay with their app', () => {
  test("app A's cookie is refused by app B sharing its secret and origin (another client id)", async () => {
    const jar = await signIn(cookieA, 'alice');
    assert.equal((await hop(jar, `${cookieA.url}/app/hello`, { headers: API })).status, 200);
    assert.equal((await hop(jar, `${appB.url}/app/hello`, { headers: API })).status, 401);
    const nav = await hop(jar, `${appB.url}/app/hello`);
    assert.equal(nav.status, 302);
    assert.equal(new URL(nav.location!).searchParams.get('client_id'), 'app-b');
  });
});

describe('sessions list and revoke', () => {
  const listed = async (...filter: string[]) => {
    const r = await runCli(['sessions', 'list', '--store', redis.url, '--json', ...filter]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { id: string; sub: string; email: string; expiresAt: number }[];
  };
  const accepted = async (g: SigninGateway, jar: Jar) => (await hop(jar, `${g.url}/`, { headers: API })).status;

  test('one session, then every session of a person, end on both instances; others carry on', async () => {
    const before = (await listed('--subject', 'alice')).map((s) => s.id);
    const laptop = await signIn(store1, 'alice', '/');
    const phone = await signIn(store2, 'alice', '/');
    const carol = await signIn(store1, 'carol', '/');
    const alice = (await listed('--email', 'ALICE@example.com')).filter((s) => !before.includes(s.id));
    assert.equal(alice.length, 2);
    assert.ok(alice.every((s) => s.sub === 'alice' && s.email === 'alice@example.com' && s.expiresAt > nowS()));
    const text = await runCli(['sessions', 'list', '--store', redis.url, '--subject', 'carol']);
    assert.match(text.stdout, /\tcarol\tcarol@example\.com\tsigned-in=/);
    // What an operator sees: who and when, never a token or the sealed session.
    assert.deepEqual(Object.keys(alice[0]!).sort(), ['clientId', 'email', 'expiresAt', 'id', 'issuer', 'lastSeenAt', 'name', 'origin', 'signedInAt', 'sub']);
    assert.equal(text.stdout.split('\n')[0]!.split('\t').length, 7);

    // The laptop's id as `list` shows it (the test holds the secret and can open its cookie).
    const sid = (await codec.open(laptop.get(SESSION)!))!.sid as string;
    const lost = alice.find((s) => s.id === storeId(sid));
    assert.ok(lost, 'the laptop is listed');
    const one = await runCli(['sessions', 'revoke', '--store', redis.url, lost.id]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`revoked ${lost.id}`));
    await until('the revoked session is refused on both instances', async () => (await accepted(store1, laptop)) === 401 && (await accepted(store2, laptop)) === 401, 10_000);
    const nav = await hop(laptop, `${store2.url}/`);
    assert.equal(nav.status, 302, 'a browser is sent to sign in');
    assert.equal(await accepted(store1, phone), 200, 'her other session carries on');

    const all = await runCli(['sessions', 'revoke', '--store', redis.url, '--subject', 'alice']);
    assert.equal(all.code, 0, all.stderr);
    await until("all of alice's sessions are refused", async () => (await accepted(store1, phone)) === 401 && (await accepted(store2, phone)) === 401, 10_000);
    assert.equal(await accepted(store2, carol), 200, 'carol is not affected');
    assert.equal((await listed('--subject', 'alice')).length, 0);

    // Ids are base64url: 1 in 64 begins with "-" (once refused as an unknown option, "-h…" showed the help).
    for (const id of ['-hAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '-nrHxtGrD_aZ91cFtU6diC5l4DIo-K4G']) {
      const unknown = await runCli(['sessions', 'revoke', '--store', redis.url, id]);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(unknown.stderr, new RegExp(`no such session \\(expired, signed out or already revoked\\): ${id}\n`));
    }
    const typo = await runCli(['sessions', 'revoke', '--store', redis.url, '--subjct', 'alice']);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /not a session id: "--subjct", "alice" \(an unknown option, or not one of the 32-character ids `sessions list` shows\)/);
    const nothing = await runCli(['sessions', 'revoke', '--store', redis.url]);
    assert.notEqual(nothing.code, 0);
    assert.match(nothing.stderr, /name what to revoke/);
  });
});

describe('large identities and userinfo', () => {
  test('store mode: a 10 KB identity signs in and userinfo answers all of it', async () => {
    // Lands on / (whatever the backend makes of a 13 KB user header): the callback's 302 is what counts.
    const jar = await signIn(store1, 'dave', '/');
    const r = await hop(jar, `${store1.url}/.endpoints/userinfo`, { headers: API });
    assert.equal(r.status, 200, r.body);
    const me = JSON.parse(r.body);
    assert.ok(r.body.length > 10_000, `${r.body.length} bytes`);
    assert.equal(me.groups.length, 541);
    assert.equal(me.session_store, true);
    assert.ok(jar.get(SESSION)!.length < 1000, 'the cookie stays small');
  });

  test('cookie mode: a large identity signs in with its groups trimmed to those the rules name, never a 500', async () => {
    const jar = await signIn(cookieA, 'dave', '/eng');
    assert.ok(jar.get(SESSION)!.length <= 3900);
    assert.equal((await hop(jar, `${cookieA.url}/eng`, { headers: API })).status, 200, 'the group a rule names is kept');
    const me = JSON.parse((await hop(jar, `${cookieA.url}/.endpoints/userinfo`, { headers: API })).body);
    assert.deepEqual(me.groups, ['eng']);
  });

  test('userinfo: the signed-in identity, no-store, never proxied; 401 without a session', async () => {
    const jar = await signIn(cookieA, 'alice', '/');
    backend.clear();
    const r = await hop(jar, `${cookieA.url}/.endpoints/userinfo`, { headers: API });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const me = JSON.parse(r.body);
    assert.equal(me.sub, 'alice');
    assert.equal(me.email, 'alice@example.com');
    assert.equal(me.name, 'Alice Example');
    assert.deepEqual(me.groups, ['eng', 'staff']);
    assert.ok(Date.parse(me.expires_at) > Date.now());
    assert.equal(me.rt, undefined);
    const none = await hop(new Jar(), `${cookieA.url}/.endpoints/userinfo`, { headers: API });
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).code, 401);
    assert.equal(backend.requests.length, 0);
  });
});

describe('idle timeout (store mode)', () => {
  test('a session unused for longer than --session-idle-timeout is refused', async () => {
    const jar = await signIn(idle, 'alice', '/');
    const cookie = jar.get(SESSION)!;
    const idleSince = Date.now();
    // The condition itself is time without use: wait it out, then ask once.
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(Date.now() - idleSince >= 3000);
    assert.equal((await hop(new Jar(), `${idle.url}/`, { headers: withCookie(cookie) })).status, 401);
  });
});
