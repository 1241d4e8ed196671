// Sign-in configuration: `validate` finds each mistake with its place in the
// spec, the compiled form is what the request path reads, and `serve` refuses
// to start without the session secret or a way to know its public URL.
import { runCli } from '../helpers/cli.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateSpec } from '../../src/config/validate.ts';
import { compileSpec } from '../../src/config/compile.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { signinSpec } from './harness.ts';

const ISSUER = 'https://idp.example.com';
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'signin-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spec(edit: (defs: Record<string, any>, doc: Record<string, any>) => void = () => {}): Record<string, any> {
  const doc = signinSpec(ISSUER, 'my-gateway', 'https://app-abc-uc.a.run.app') as Record<string, any>;
  edit(doc.securityDefinitions, doc);
  return doc;
}

async function problems(doc: Record<string, unknown>): Promise<string[]> {
  const { problems } = await validateSpec(structuredClone(doc));
  return problems.map((p) => `${p.where}: ${p.message}`);
}

// No session secret from the machine's environment leaks into these starts.
const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ENDPOINTS_SESSION_SECRET: '', ...env } });

describe('validate: x-endpoints-signin', () => {
  test('the example configuration is valid and compiles into a sign-in scheme every sign-in operation names', async () => {
    assert.deepEqual(await problems(spec()), []);
    const { config } = compileSpec(spec() as never);
    assert.equal(config.signin?.clientId, 'my-gateway');
    assert.equal(config.signin?.issuer, ISSUER);
    const app = config.operations.find((o) => o.id === 'app')!;
    assert.equal(app.security.signin?.name, 'signin');
    assert.deepEqual(app.authorization, { emails: [], emailDomains: ['example.com'], claims: [] });
    assert.equal(app.backend.serverlessHeader, true);
    assert.deepEqual(config.operations.find((o) => o.id === 'eng')!.authorization?.groups, ['eng']);
    assert.equal(config.operations.find((o) => o.id === 'open')!.security.signin ?? null, null);
  });

  test('scopes default to openid, email, profile', () => {
    const { config } = compileSpec(spec((d) => delete d.signin['x-endpoints-signin'].scopes) as never);
    assert.deepEqual(config.signin?.scopes, ['openid', 'email', 'profile']);
  });

  test('an unknown field, with where it is', async () => {
    const p = await problems(spec((d) => (d.signin['x-endpoints-signin'].client_secret = 'oops')));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.signin.x-endpoints-signin.client_secret: is not a field of x-endpoints-signin')), p.join('\n'));
  });

  test('a missing client_id', async () => {
    const p = await problems(spec((d) => delete d.signin['x-endpoints-signin'].client_id));
    assert.ok(p.includes('securityDefinitions.signin.x-endpoints-signin.client_id: is missing: the OAuth client id registered with the provider'), p.join('\n'));
  });

  test('an issuer that is not an https URL (plain http only on loopback)', async () => {
    const p = await problems(spec((d) => (d.signin['x-google-issuer'] = 'http://idp.example.com')));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.signin.x-google-issuer: must be an https:// URL')), p.join('\n'));
    assert.deepEqual(await problems(spec((d) => {
      d.signin['x-google-issuer'] = 'http://127.0.0.1:9000';
      d.signin.authorizationUrl = 'http://127.0.0.1:9000/auth';
      d.signin.tokenUrl = 'http://127.0.0.1:9000/token';
    })), []);
  });

  test('the flow must be accessCode, scopes must include openid, the post-logout path must stay on this origin', async () => {
    const p = await problems(spec((d) => {
      d.signin.flow = 'implicit';
      delete d.signin.tokenUrl;
      d.signin['x-endpoints-signin'].scopes = ['email'];
      d.signin['x-endpoints-signin'].post_logout_path = '//evil.example/';
    }));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.signin.flow: must be accessCode')), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.signin.x-endpoints-signin.scopes: must include openid')), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.signin.x-endpoints-signin.post_logout_path: must be a path')), p.join('\n'));
  });

  test('one sign-in scheme per spec', async () => {
    const p = await problems(spec((d) => (d.other = structuredClone(d.signin))));
    assert.ok(p.some((l) => l.startsWith('securityDefinitions.other.x-endpoints-signin: is the second sign-in scheme')), p.join('\n'));
  });

  test('groups and serverless_header are checked too', async () => {
    const p = await problems(spec((_d, doc) => {
      doc.paths['/eng'].get['x-endpoints-authorization'] = { groups: [] };
      doc.paths['/app/**'].get['x-google-backend'].serverless_header = 'X-Other';
    }));
    assert.ok(p.some((l) => l.includes('x-endpoints-authorization.groups')), p.join('\n'));
    assert.ok(p.some((l) => l.includes('x-google-backend.serverless_header')), p.join('\n'));
  });

  test('the validate command prints located lines and exits 2', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify(spec((d) => delete d.signin['x-endpoints-signin'].client_id)));
    const r = await run(['validate', '--spec', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.json: securityDefinitions\.signin\.x-endpoints-signin\.client_id: is missing/);
  });
});

describe('serve refuses to start without what sign-in needs', () => {
  test('no session secret; a short one; no public URL', async () => {
    const file = path.join(dir, 'ok.json');
    await writeFile(file, JSON.stringify(spec()));
    const base = ['serve', '--spec', file, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'];
    const none = await run([...base, '--public-url', 'https://app.example.com']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no session secret is set: put one of at least 32 bytes in \$ENDPOINTS_SESSION_SECRET or a file named by --session-secret-file/);
    const short = await run([...base, '--public-url', 'https://app.example.com'], { ENDPOINTS_SESSION_SECRET: 'too-short' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /\$ENDPOINTS_SESSION_SECRET: secret 1 is 9 bytes; session secrets need at least 32/);
    const noUrl = await run([...base, '--trusted-hops', '0'], { ENDPOINTS_SESSION_SECRET: 'x'.repeat(40) });
    assert.equal(noUrl.code, 1);
    assert.match(noUrl.stderr, /set --public-url/);
  });
});

describe('a gateway without sign-in', () => {
  let backend: TestBackend;
  let gw: ChildGateway | undefined;
  before(async () => {
    backend = await startTestBackend();
    const file = path.join(dir, 'plain.json');
    await writeFile(file, JSON.stringify({ swagger: '2.0', info: { title: 't', version: '1' }, host: 'p.example.com', 'x-google-backend': { address: backend.url, path_translation: 'APPEND_PATH_TO_ADDRESS' }, paths: { '/**': { get: { operationId: 'all', responses: { '200': { description: 'ok' } } } } } }));
    // Port 0: the gateway reports the port it bound.
    gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none']);
  });
  after(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
    await backend?.close();
  });

  test('still keeps /.endpoints/callback, /.endpoints/sign_out and /.endpoints/userinfo from its backend, even under /**', async () => {
    assert.equal((await fetch(`${gw!.url}/anything`)).status, 200);
    backend.clear();
    for (const p of ['/.endpoints/callback?code=x&state=y', '/.endpoints/sign_out', '/.endpoints/userinfo']) {
      const r = await fetch(`${gw!.url}${p}`);
      assert.equal(r.status, 404, p);
      assert.equal(((await r.json()) as { code: number }).code, 404);
    }
    assert.equal(backend.requests.length, 0);
  });
});
