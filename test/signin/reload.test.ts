// Sign-in's runtime (secrets, provider, reserved routes) is set up at start: a reload that adds
// browser sign-in to a running gateway is refused with a restart hint, and the served spec stays.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { baseSpec, op } from '../helpers/gateway.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { signinSpec } from './harness.ts';

let dir: string;
let backend: TestBackend;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-signin-reload-'));
  backend = await startTestBackend();
});
after(async () => {
  if (gw) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  await backend.close();
  await rm(dir, { recursive: true, force: true });
});

test('a reload that adds sign-in is refused until a restart; the open spec keeps serving', async () => {
  const file = path.join(dir, 'endpoint.yaml');
  const open = baseSpec({
    host: 'signin-test.endpoints.test-project.cloud.goog',
    'x-google-backend': { address: backend.url },
    paths: { '/app/**': { get: op('app', { security: [] }) } },
  });
  await writeFile(file, stringify(open));
  gw = await startChildGateway(['--spec', file, '--backend-auth', 'none', '--keys', 'none']);
  assert.equal((await send(gw.url, '/app/x')).status, 200);

  // Loopback issuer: the spec is valid; nothing is contacted to refuse it.
  await writeFile(file, stringify(signinSpec('http://127.0.0.1:9', 'reload-client', backend.url)));
  gw.child.kill('SIGHUP');
  const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
  assert.match(JSON.stringify(refused.problems), /adds browser sign-in \(x-endpoints-signin\), which takes effect only at start: restart the gateway/);
  const still = await send(gw.url, '/app/x');
  assert.equal(still.status, 200, 'the previous, open spec is still served');
});
