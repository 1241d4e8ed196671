// `--keys google` as in production: the API Keys service over HTTPS with the gateway's Application
// Default Credentials (an access token from the metadata server), in the real CLI process. The API Keys
// emulator serves TLS with a test certificate the gateway trusts through NODE_EXTRA_CA_CERTS; the
// metadata emulator hands out the access tokens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { op } from '../helpers/gateway.ts';
import { keyedSpec, writeSpecFile } from '../helpers/specs.ts';
import { send } from '../helpers/http.ts';
import { selfSigned } from '../tls/certs.ts';

const INVALID = 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.';
const KEY = `AIzaSyADC${'a'.repeat(30)}`;

let dir: string;
let keys: ApiKeysEmulator;
let metadata: MetadataEmulator;
let backend: TestBackend;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-adc-'));
  const { key: keyFile, cert } = selfSigned(dir);
  keys = await startApiKeysEmulator({ tls: { key: await readFile(keyFile), cert: await readFile(cert) } });
  keys.addKey({ keyString: KEY, project: '555000111', displayName: 'adc' });
  metadata = await startMetadataEmulator({ projectId: 'adc-project' });
  backend = await startTestBackend();
  const specFile = await writeSpecFile(dir, { ...keyedSpec('adc', backend.url), paths: { '/items': { get: op('listItems') } } });
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'google', '--apikeys-endpoint', keys.url], {
    NODE_EXTRA_CA_CERTS: cert,
    GCE_METADATA_HOST: metadata.host,
    METADATA_SERVER_DETECTION: 'assume-present',
  });
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await keys?.close();
  await metadata?.close();
  await rm(dir, { recursive: true, force: true });
});

test('a key is looked up over TLS with an access token from the metadata server, then admitted with its project', async () => {
  const r = await send(gw.url, `/items?key=${KEY}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(backend.last()?.headers['x-endpoint-api-consumer-number'], '555000111');
  assert.deepEqual(keys.counts, { lookupKey: 1, getKey: 1, other: 0 });
  assert.equal(keys.authorizations.length, 2);
  for (const a of keys.authorizations) assert.match(a, /^Bearer ya29\.emulated-[0-9a-f-]{36}$/);
  assert.ok(metadata.requests.some((q) => q.path.endsWith('/service-accounts/default/token')), 'the token came from the metadata server');
});

test('an unknown key: 400 as ESP, the service asked with a token as well', async () => {
  const before = keys.authorizations.length;
  const r = await send(gw.url, `/items?key=AIzaSyUNKNOWN${'b'.repeat(28)}`);
  assert.equal(r.status, 400);
  assert.equal(r.json().message, INVALID);
  assert.equal(keys.authorizations.length, before + 1);
  assert.match(keys.authorizations.at(-1)!, /^Bearer ya29\.emulated-/);
});
