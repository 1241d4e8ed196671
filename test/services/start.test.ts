// Several --spec at start and in `validate`: what is refused (one service
// twice, one host for two services, flags that name one service), and the
// hosts no spec names (--default-service), or named by a trusted proxy
// (X-Forwarded-Host behind --trusted-hops).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { op } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

let dir: string;
let one: TestBackend;
let two: TestBackend;
let gw: ChildGateway | undefined;

function api(host: string, names: string[], backend: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: host, version: '1' },
    host,
    'x-google-endpoints': names.map((name) => ({ name })),
    'x-google-backend': { address: backend },
    paths: { '/ping': { get: op('ping') } },
  };
}

async function specFile(name: string, spec: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return file;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'several-start-'));
  [one, two] = await Promise.all([startTestBackend(), startTestBackend()]);
});

after(async () => {
  if (gw) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  await Promise.all([one?.close(), two?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const SERVE = ['serve', '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'];

describe('starting with several --spec', () => {
  test('two services claiming one host: serve refuses to start, naming both; validate says the same (exit 2)', async () => {
    const a = await specFile('clash-a.json', api('a.example.test', ['shared.example.test'], one.url));
    const b = await specFile('clash-b.json', api('b.example.test', ['SHARED.example.test'], two.url));
    const r = await runCli([...SERVE, '--spec', a, '--spec', b]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /host shared\.example\.test is named by two services: a\.example\.test \(.*clash-a\.json\) and b\.example\.test \(.*clash-b\.json\)/);
    const v = await runCli(['validate', '--spec', a, '--spec', b]);
    assert.equal(v.code, 2, v.stderr);
    assert.match(v.stderr, /host shared\.example\.test is named by two services/);
    assert.match(v.stdout, /clash-a\.json: valid/);
  });

  test('two specs of one service: refused; a --default-service no spec serves: refused', async () => {
    const a = await specFile('same-a.json', api('same.example.test', [], one.url));
    const b = await specFile('same-b.json', api('same.example.test', [], two.url));
    const same = await runCli([...SERVE, '--spec', a, '--spec', b]);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /two --spec serve the same service same\.example\.test/);
    const c = await specFile('other.json', api('other.example.test', [], two.url));
    const noSuch = await runCli([...SERVE, '--spec', a, '--spec', c, '--default-service', 'nobody.example.test']);
    assert.equal(noSuch.code, 1);
    assert.match(noSuch.stderr, /--default-service nobody\.example\.test: no --spec serves it \(services: same\.example\.test, other\.example\.test\)/);
  });

  test('--public-url names one origin: refused when several services sign browsers in', async () => {
    const signin = (host: string) => ({
      ...api(host, [], one.url),
      securityDefinitions: {
        signin: {
          type: 'oauth2',
          flow: 'accessCode',
          authorizationUrl: 'https://idp.example.test/auth',
          tokenUrl: 'https://idp.example.test/token',
          'x-google-issuer': 'https://idp.example.test',
          'x-endpoints-signin': { client_id: host },
        },
      },
      security: [{ signin: [] }],
    });
    const a = await specFile('signin-a.json', signin('hello.example.test'));
    const b = await specFile('signin-b.json', signin('httpbin.example.test'));
    const env = { ENDPOINTS_SESSION_SECRET: 'a-session-secret-of-at-least-32-bytes-0123456789', ENDPOINTS_SIGNIN_CLIENT_SECRET: 'client-secret' };
    const r = await runCli([...SERVE, '--spec', a, '--spec', b, '--public-url', 'https://hello.example.test'], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--public-url names one origin, but several services use browser sign-in/);
  });

  test("a bad spec among several is reported with its own file's name (exit 2)", async () => {
    const a = await specFile('good.json', api('good.example.test', [], one.url));
    const last = await specFile('last.json', api('last.example.test', [], two.url));
    const bad = await specFile('bad.json', '{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "host": "bad.example.test", "paths": {"/x": {"get": {"operationId": 7}}}}');
    const r = await runCli([...SERVE, '--spec', a, '--spec', bad, '--spec', last]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^.*bad\.json: /m);
    assert.doesNotMatch(r.stderr, /good\.json|last\.json/);
  });

  test('--default-service takes hosts no spec names; behind --trusted-hops 1, X-Forwarded-Host picks the service; each host has its own docs page', async () => {
    const a = await specFile('dflt-a.json', api('a.example.test', [], one.url));
    const b = await specFile('dflt-b.json', api('b.example.test', [], two.url));
    gw = await startChildGateway(['--spec', a, '--spec', b, '--keys', 'none', '--backend-auth', 'none', '--default-service', 'b.example.test', '--trusted-hops', '1', '--docs-path', '/docs']);
    const hits = async (headers: Record<string, string>): Promise<string> => {
      one.clear();
      two.clear();
      const r = await send(gw!.url, '/ping', { headers });
      assert.equal(r.status, 200, r.body);
      return one.requests.length === 1 ? 'a' : two.requests.length === 1 ? 'b' : 'none';
    };
    assert.equal(await hits({ host: 'a.example.test' }), 'a');
    assert.equal(await hits({ host: 'elsewhere.example.test' }), 'b', 'the default service');
    assert.equal(await hits({ host: 'b.example.test', 'x-forwarded-host': 'a.example.test' }), 'a', "the trusted proxy's host");
    // Several proxies: the one nearest the gateway appended last.
    assert.equal(await hits({ host: 'b.example.test', 'x-forwarded-host': 'b.example.test, a.example.test' }), 'a');
    // Each host's docs page publishes its own service's spec.
    for (const host of ['a.example.test', 'b.example.test']) {
      const r = await send(gw.url, '/docs/openapi.json', { headers: { host } });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json<{ host: string }>().host, host);
    }
  });
});
