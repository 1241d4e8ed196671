// One sign-in shared by the services of one parent domain (--signin-cookie-domain):
// three sign-in apps on a.apps.localhost, b.apps.localhost (same provider and
// client) and c.apps.localhost (another client), one gateway behind a front on
// port 0 that keeps the browser's Host. Signing in on one of a and b serves
// both; c refuses that session; sign-out on one ends it on the other, and with
// the Redis store a copy of the old cookie is dead too. The real CLI, a real
// oidc-provider, a real redis-server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { op } from '../helpers/gateway.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { SECRET, SCOPES, walk, hop, Jar } from '../signin/harness.ts';

const SESSION = 'endpoints_session';
const OTHER_CLIENT = 'gateway-test-other';

let backends: Record<'a' | 'b' | 'c', TestBackend>;
let idp: TestProvider;
let redis: TestRedis;
let gw: ChildGateway;
/** The same three apps under cookies.localhost, sessions in the cookie itself (no store). */
let cookieGw: ChildGateway;
let cookieTarget = '';
let front: http.Server;
let port: number;
let target = '';
let dir: string;
let clientSecretFile = '';
const specFiles: string[] = [];

const url = (app: string, p: string, parent = 'apps') => `http://${app}.${parent}.localhost:${port}${p}`;

function app(host: string, clientId: string, backend: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: host, version: '1' },
    host,
    'x-google-backend': { address: backend },
    securityDefinitions: {
      signin: {
        type: 'oauth2',
        flow: 'accessCode',
        authorizationUrl: `${idp.issuer}/auth`,
        tokenUrl: `${idp.issuer}/token`,
        'x-google-issuer': idp.issuer,
        'x-endpoints-signin': { client_id: clientId, scopes: SCOPES, post_logout_path: '/' },
      },
    },
    paths: { '/app/**': { get: op('app', { security: [{ signin: [] }] }) } },
  };
}

before(async () => {
  const [a, b, c] = await Promise.all([startTestBackend(), startTestBackend(), startTestBackend()]);
  backends = { a: a!, b: b!, c: c! };
  [idp, redis] = await Promise.all([startProvider(), startRedis()]);
  // A front end as Cloud Run's: the Host as the browser sent it, the scheme in X-Forwarded-Proto.
  front = http.createServer((req, res) => {
    const to = String(req.headers.host).includes('.cookies.localhost') ? cookieTarget : target;
    const up = http.request(`${to}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, 'x-forwarded-proto': 'http' }, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  port = (front.address() as AddressInfo).port;
  dir = await mkdtemp(path.join(tmpdir(), 'signin-cookie-domain-'));
  clientSecretFile = path.join(dir, 'client-secret');
  for (const name of ['a', 'b', 'c'] as const) specFiles.push(path.join(dir, `${name}.json`));
  await Promise.all([
    writeFile(specFiles[0]!, JSON.stringify(app('a.apps.localhost', idp.clientId, backends.a.url))),
    writeFile(specFiles[1]!, JSON.stringify(app('b.apps.localhost', idp.clientId, backends.b.url))),
    writeFile(specFiles[2]!, JSON.stringify(app('c.apps.localhost', OTHER_CLIENT, backends.c.url))),
    writeFile(clientSecretFile, `${idp.clientSecret}\n`),
    ...(['a', 'b', 'c'] as const).map((n) => writeFile(path.join(dir, `cookie-${n}.json`), JSON.stringify(app(`${n}.cookies.localhost`, n === 'c' ? OTHER_CLIENT : idp.clientId, backends[n].url)))),
  ]);
  cookieGw = await startChildGateway(
    [...['a', 'b', 'c'].flatMap((n) => ['--spec', path.join(dir, `cookie-${n}.json`)]), '--keys', 'none', '--backend-auth', 'none', '--trusted-hops', '1', '--signin-client-secret-file', clientSecretFile, '--signin-cookie-domain', 'cookies.localhost'],
    { ENDPOINTS_SESSION_SECRET: SECRET },
  );
  cookieTarget = cookieGw.url;
  gw = await startChildGateway(
    [...specFiles.flatMap((f) => ['--spec', f]), '--keys', 'none', '--backend-auth', 'none', '--trusted-hops', '1', '--signin-client-secret-file', clientSecretFile, '--session-store', redis.url],
    { ENDPOINTS_SESSION_SECRET: SECRET, ENDPOINTS_SIGNIN_COOKIE_DOMAIN: '.apps.localhost' },
  );
  target = gw.url;
  const both = (apps: string[]) => apps.flatMap((x) => [x, `${x}.cookies`]);
  const at = (x: string, p: string) => (x.includes('.') ? `http://${x}.localhost:${port}${p}` : url(x, p));
  const uris = (apps: string[]) => ({ redirectUris: both(apps).map((x) => at(x, '/.endpoints/callback')), postLogoutRedirectUris: both(apps).map((x) => at(x, '/')) });
  idp.register(uris(['a', 'b']), [{ clientId: OTHER_CLIENT, ...uris(['c']) }]);
});

after(async () => {
  for (const g of [gw, cookieGw]) {
    if (!g) continue;
    g.child.kill('SIGTERM');
    await g.exit();
  }
  front?.closeAllConnections();
  await new Promise((r) => (front ? front.close(r) : r(undefined)));
  await idp?.close();
  await redis?.stop();
  if (backends) await Promise.all(Object.values(backends).map((b) => b.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('one sign-in for the services of one parent domain (--signin-cookie-domain)', () => {
  test('signing in on one service serves the other with the same provider and client, with one cookie for the parent domain', async () => {
    const jar = new Jar();
    const { last, hops } = await walk(jar, url('a', '/app/x'), 'alice');
    assert.equal(last.status, 200, last.body);
    assert.equal(backends.a.last()?.url, '/app/x');
    const set = hops.flatMap((h) => h.setCookies).find((c) => c.startsWith(`${SESSION}=`) && !/Max-Age=0/.test(c));
    assert.ok(set, 'a session cookie is set');
    assert.match(set, /; Domain=apps\.localhost;/);
    assert.match(set, /; HttpOnly; SameSite=Lax/);
    assert.ok(jar.get(SESSION, '.apps.localhost'), 'kept for the parent domain');
    assert.equal(jar.get(SESSION, 'a.apps.localhost'), undefined, 'no host-only copy');
    // No new sign-in on b: the first request reaches b's backend.
    const onB = await hop(jar, url('b', '/app/y'));
    assert.equal(onB.status, 200, onB.body);
    assert.equal(backends.b.last()?.url, '/app/y');
    assert.equal(JSON.parse(Buffer.from(backends.b.last()!.headers['x-endpoint-api-userinfo'] as string, 'base64url').toString()).sub, 'alice');
    assert.equal(backends.b.last()?.headers.cookie, undefined, 'the session cookie never goes upstream');
    const who = await hop(jar, url('b', '/.endpoints/userinfo'), { headers: { accept: 'application/json' } });
    assert.equal(who.status, 200, who.body);
    assert.equal(JSON.parse(who.body).sub, 'alice');
  });

  test('a host-only session cookie left from before the shared domain is removed at sign-in instead of shadowing the shared one', async () => {
    const jar = new Jar();
    jar.set(SESSION, 'left-from-before', 'a.apps.localhost');
    const { last } = await walk(jar, url('a', '/app/x'), 'alice');
    assert.equal(last.status, 200, last.body);
    assert.equal(jar.get(SESSION, 'a.apps.localhost'), undefined);
    assert.equal((await hop(jar, url('a', '/app/again'))).status, 200);
  });

  test('a service with another client refuses the shared session and sends the browser to sign in for its own client; signing in there as the same person grants it that service too', async () => {
    const jar = new Jar();
    await walk(jar, url('a', '/app/x'), 'bob');
    assert.ok(jar.get(SESSION, '.apps.localhost'));
    backends.c.clear();
    const onC = await hop(jar, url('c', '/app/z'));
    assert.equal(onC.status, 302, onC.body);
    const to = new URL(onC.location!);
    assert.equal(to.origin, new URL(idp.issuer).origin);
    assert.equal(to.searchParams.get('client_id'), OTHER_CLIENT);
    assert.equal(to.searchParams.get('redirect_uri'), url('c', '/.endpoints/callback'));
    assert.equal(backends.c.requests.length, 0);
    const api = await hop(jar, url('c', '/app/z'), { headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' } });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).code, 401);
    // Signing in on c as bob: the session gains c and keeps a and b.
    const held = jar.get(SESSION, '.apps.localhost');
    const onCAgain = await walk(jar, url('c', '/app/z'), 'bob');
    assert.equal(onCAgain.last.status, 200, onCAgain.last.body);
    assert.equal(backends.c.last()?.url, '/app/z');
    assert.equal(jar.get(SESSION, '.apps.localhost'), held, 'the same stored session, now granted for c');
    for (const name of ['a', 'b'] as const) {
      const r = await hop(jar, url(name, '/app/again'));
      assert.equal(r.status, 200, `${name}: ${r.body}`);
      assert.equal(backends[name].last()?.url, '/app/again');
    }
  });

  test('another person signing in on the other client\'s service replaces the session instead of joining it', async () => {
    const jar = new Jar();
    await walk(jar, url('a', '/app/x'), 'bob');
    const bobs = jar.get(SESSION, '.apps.localhost')!;
    // The same browser, without bob's session at the provider: alice signs in there.
    const shared = new Jar();
    shared.set(SESSION, bobs, '.apps.localhost');
    const asAlice = await walk(shared, url('c', '/app/z'), 'alice');
    assert.equal(asAlice.last.status, 200, asAlice.last.body);
    assert.equal(JSON.parse(Buffer.from(backends.c.last()!.headers['x-endpoint-api-userinfo'] as string, 'base64url').toString()).sub, 'alice');
    assert.notEqual(shared.get(SESSION, '.apps.localhost'), bobs);
    const onA = await hop(shared, url('a', '/app/x'));
    assert.equal(onA.status, 302, "alice's session was granted for c only");
  });

  test('sign-out on one service ends the session on the other, and a copy of the old cookie is refused', async () => {
    const jar = new Jar();
    await walk(jar, url('a', '/app/x'), 'carol');
    const old = jar.get(SESSION, '.apps.localhost');
    assert.ok(old);
    assert.equal((await hop(jar, url('b', '/app/y'))).status, 200);
    const out = await hop(jar, url('b', '/.endpoints/sign_out'), { method: 'POST', headers: { origin: url('b', ''), 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(out.status, 303, out.body);
    assert.ok(out.setCookies.some((c) => /^endpoints_session=; Path=\/; Domain=apps\.localhost; Max-Age=0/.test(c)), out.setCookies.join(' | '));
    assert.equal(jar.get(SESSION, '.apps.localhost'), undefined);
    assert.equal((await hop(jar, url('a', '/app/x'))).status, 302, 'a asks to sign in again');
    const copied = await hop(new Jar(), url('a', '/app/x'), { headers: { cookie: `${SESSION}=${old}` } });
    assert.equal(copied.status, 302, 'the stored session is gone');
  });

  test('without a session store: the sealed session itself is shared, gains the other client, and sign-out clears it for every service', async () => {
    const jar = new Jar();
    const first = await walk(jar, url('a', '/app/x', 'cookies'), 'alice');
    assert.equal(first.last.status, 200, first.last.body);
    const sealed = jar.get(SESSION, '.cookies.localhost');
    assert.ok(sealed, 'kept for the parent domain');
    assert.equal((await hop(jar, url('b', '/app/y', 'cookies'))).status, 200);
    assert.equal((await hop(jar, url('c', '/app/z', 'cookies'))).status, 302, 'another client');
    const onC = await walk(jar, url('c', '/app/z', 'cookies'), 'alice');
    assert.equal(onC.last.status, 200, onC.last.body);
    assert.notEqual(jar.get(SESSION, '.cookies.localhost'), sealed, 'a new sealed cookie, granted for c too');
    assert.equal((await hop(jar, url('a', '/app/x', 'cookies'))).status, 200, 'a still accepts it');
    const out = await hop(jar, url('c', '/.endpoints/sign_out', 'cookies'), { method: 'POST', headers: { origin: url('c', '', 'cookies'), 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(out.status, 303, out.body);
    assert.equal(jar.get(SESSION, '.cookies.localhost'), undefined);
    assert.equal((await hop(jar, url('b', '/app/y', 'cookies'))).status, 302, 'b asks to sign in again');
  });

  test('a cookie domain that is not a parent of every sign-in service host, or that does not cover --public-url, stops the start with one line', async () => {
    const notParent = await runCli(['serve', '--spec', specFiles[0]!, '--spec', specFiles[2]!, '--keys', 'none', '--backend-auth', 'none', '--trusted-hops', '1', '--signin-client-secret-file', clientSecretFile, '--signin-cookie-domain', '.b.apps.localhost', '--port', '0'], { env: { ENDPOINTS_SESSION_SECRET: SECRET } });
    assert.notEqual(notParent.code, 0);
    assert.match(notParent.stderr + notParent.stdout, /--signin-cookie-domain \.b\.apps\.localhost is not a parent of a\.apps\.localhost \(service a\.apps\.localhost/);
    const publicUrl = await runCli(['serve', '--spec', specFiles[0]!, '--keys', 'none', '--backend-auth', 'none', '--public-url', 'https://a.other.test', '--signin-client-secret-file', clientSecretFile, '--signin-cookie-domain', '.apps.localhost', '--port', '0'], { env: { ENDPOINTS_SESSION_SECRET: SECRET } });
    assert.notEqual(publicUrl.code, 0);
    assert.match(publicUrl.stderr + publicUrl.stdout, /--signin-cookie-domain \.apps\.localhost does not cover --public-url https:\/\/a\.other\.test/);
    const tld = await runCli(['serve', '--spec', specFiles[0]!, '--keys', 'none', '--backend-auth', 'none', '--trusted-hops', '1', '--signin-client-secret-file', clientSecretFile, '--signin-cookie-domain', 'localhost', '--port', '0'], { env: { ENDPOINTS_SESSION_SECRET: SECRET } });
    assert.notEqual(tld.code, 0);
    assert.match(tld.stderr + tld.stdout, /--signin-cookie-domain localhost: a single label is a top-level domain/);
  });
});
