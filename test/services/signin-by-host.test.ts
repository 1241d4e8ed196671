// Two apps behind browser sign-in in one gateway, each on its own host, as the
// README's many-apps recipe runs them: no --public-url, behind a trusted
// proxy, so each app signs in on its own origin. A session granted for one app
// is never accepted by the other. The hosts are 127.0.0.1 and localhost: two
// names of the loopback interface, one front on port 0 in front of the gateway.
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
import { op } from '../helpers/gateway.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { SECRET, SCOPES, walk, hop, Jar } from '../signin/harness.ts';

const SESSION = 'endpoints_session';

let hello: TestBackend;
let httpbin: TestBackend;
let idp: TestProvider;
let gw: ChildGateway;
let front: http.Server;
let port: number;
let target = '';
let dir: string;

function app(host: string, loopbackName: string, backend: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: host, version: '1' },
    host,
    'x-google-endpoints': [{ name: loopbackName }],
    'x-google-backend': { address: backend },
    securityDefinitions: {
      signin: {
        type: 'oauth2',
        flow: 'accessCode',
        authorizationUrl: `${idp.issuer}/auth`,
        tokenUrl: `${idp.issuer}/token`,
        'x-google-issuer': idp.issuer,
        'x-endpoints-signin': { client_id: idp.clientId, scopes: SCOPES, post_logout_path: '/' },
      },
    },
    paths: { '/app/**': { get: op('app', { security: [{ signin: [] }] }) } },
  };
}

before(async () => {
  [hello, httpbin] = await Promise.all([startTestBackend(), startTestBackend()]);
  idp = await startProvider();
  // A front end as Cloud Run's: the Host as the browser sent it, the scheme in X-Forwarded-Proto.
  front = http.createServer((req, res) => {
    const up = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, 'x-forwarded-proto': 'http' }, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  port = (front.address() as AddressInfo).port;
  dir = await mkdtemp(path.join(tmpdir(), 'signin-by-host-'));
  const helloFile = path.join(dir, 'hello.json');
  const httpbinFile = path.join(dir, 'httpbin.json');
  const clientSecretFile = path.join(dir, 'client-secret');
  await Promise.all([
    writeFile(helloFile, JSON.stringify(app('hello.example.test', '127.0.0.1', hello.url))),
    writeFile(httpbinFile, JSON.stringify(app('httpbin.example.test', 'localhost', httpbin.url))),
    writeFile(clientSecretFile, `${idp.clientSecret}\n`),
  ]);
  gw = await startChildGateway(
    ['--spec', helloFile, '--spec', httpbinFile, '--keys', 'none', '--backend-auth', 'none', '--trusted-hops', '1', '--signin-client-secret-file', clientSecretFile],
    { ENDPOINTS_SESSION_SECRET: SECRET },
  );
  target = gw.url;
  const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  idp.register({ redirectUris: origins.map((o) => `${o}/.endpoints/callback`), postLogoutRedirectUris: origins.map((o) => `${o}/`) });
});

after(async () => {
  if (gw) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  front?.closeAllConnections();
  await new Promise((r) => (front ? front.close(r) : r(undefined)));
  await idp?.close();
  await Promise.all([hello?.close(), httpbin?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two sign-in apps in one gateway, each on its own host', () => {
  test('each app signs a browser in on its own origin and reaches its own backend', async () => {
    const jar = new Jar();
    const first = await hop(jar, `http://localhost:${port}/app/x`);
    assert.equal(first.status, 302, first.body);
    assert.equal(new URL(first.location!).searchParams.get('redirect_uri'), `http://localhost:${port}/.endpoints/callback`);
    const { last } = await walk(jar, `http://localhost:${port}/app/x`, 'alice');
    assert.equal(last.status, 200, last.body);
    assert.equal(httpbin.last()?.url, '/app/x');
    assert.equal(hello.requests.length, 0);
    const again = await walk(jar, `http://127.0.0.1:${port}/app/y`, 'bob');
    assert.equal(again.last.status, 200, again.last.body);
    assert.equal(hello.last()?.url, '/app/y');
  });

  test('a session granted for one app is not accepted by the other, even when its cookie is carried there', async () => {
    const jar = new Jar();
    await walk(jar, `http://127.0.0.1:${port}/app/z`, 'carol');
    const session = jar.get(SESSION, '127.0.0.1');
    assert.ok(session, 'signed in on hello');
    assert.equal((await hop(jar, `http://127.0.0.1:${port}/app/z`)).status, 200);
    assert.equal(hello.last()?.url, '/app/z', "hello's own backend");
    httpbin.clear();
    const carried = await hop(new Jar(), `http://localhost:${port}/app/z`, { headers: { cookie: `${SESSION}=${session}` } });
    assert.equal(carried.status, 302, 'sent to sign in for httpbin');
    assert.equal(new URL(carried.location!).origin, new URL(idp.issuer).origin);
    assert.equal(httpbin.requests.length, 0);
  });
});
