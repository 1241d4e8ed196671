// Backend ID tokens at start (tests/integration_test/backend_auth_using_imds_test,
// TestBackendAuthWithImdsIdTokenRetries). ESPv2 by default refuses connections until it has its tokens;
// with --dependency_error_behavior=ALWAYS_INIT it serves and answers 500 "Token not found for audience".
// The gateway does the second, with /readyz 503 holding load balancers off meanwhile (decision and reason:
// README, "Backend auth at start"). Real CLI, the metadata-server emulator failing, then healthy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { specDir, type SpecDir } from './parity-helpers.ts';

let meta: MetadataEmulator;
let backend: TestBackend;
let dir: SpecDir;
let gw: ChildGateway | undefined;

before(async () => {
  meta = await startMetadataEmulator();
  backend = await startTestBackend();
  dir = await specDir();
});
after(async () => {
  if (gw) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await meta?.close();
  await dir?.close();
});

test('until the first ID token: /readyz 503, 500 "Token not found for audience", calls that need no token served; then the token flows', async () => {
  const audience = `${backend.url}/bearertoken/constant`;
  const spec = {
    swagger: '2.0',
    info: { title: 'imds', version: '1' },
    host: 'imds.endpoints.parity-project.cloud.goog',
    paths: {
      '/bearertoken/constant/{foo}': {
        get: { operationId: 'constant', parameters: [{ name: 'foo', in: 'path', required: true, type: 'string' }], 'x-google-backend': { address: audience }, responses: { 200: { description: 'ok' } } },
      },
      '/open': { get: { operationId: 'open', 'x-google-backend': { address: `${backend.url}/open`, disable_auth: true }, responses: { 200: { description: 'ok' } } } },
    },
  };
  meta.setFailing(true);
  gw = await startChildGateway(['--spec', await dir.write('imds.json', spec), '--backend-auth', 'google', '--keys', 'none', '--access-log', 'off'], {
    ENDPOINTS_CACHE_DIR: 'off',
    GCE_METADATA_HOST: meta.host,
    METADATA_SERVER_DETECTION: 'assume-present',
    GOOGLE_CLOUD_PROJECT: 'test-project',
  });
  const readyz = await send(gw.url, '/readyz');
  assert.equal(readyz.status, 503);
  assert.match(readyz.body, /no backend ID token yet/);
  const refused = await send(gw.url, '/bearertoken/constant/42');
  assert.equal(refused.status, 500);
  assert.equal(refused.body, `{"code":500,"message":"Token not found for audience: ${audience}"}`);
  backend.clear();
  assert.equal((await send(gw.url, '/open')).status, 200, 'what needs no token is served meanwhile');
  assert.equal(backend.requests.length, 1);

  meta.setFailing(false);
  // The next start-up retry gets a token (2 s, 4 s, 8 s ... at most 60 s apart): a deadline
  // only a failing test reaches.
  const end = Date.now() + 90_000;
  let ready = readyz;
  while (ready.status !== 200 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    ready = await send(gw.url, '/readyz');
  }
  assert.equal(ready.status, 200, ready.body);
  backend.clear();
  const r = await send(gw.url, '/bearertoken/constant/42');
  assert.equal(r.status, 200, r.body);
  assert.equal(backend.last()?.url, '/bearertoken/constant?foo=42');
  assert.match(String(backend.last()?.headers.authorization), /^Bearer ey/);
});
