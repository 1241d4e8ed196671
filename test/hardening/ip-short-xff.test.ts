// Server-key IP restrictions behind --trusted-hops N: the caller IP is the N-th
// X-Forwarded-For entry from the right, and when the header has fewer than N
// entries it is the socket peer (Envoy's xff_num_trusted_hops fallback), never
// the leftmost entry, which a caller writes itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { keyedSpec } from '../helpers/specs.ts';

const ALLOWED = '203.0.113.7';
/** Allows only ALLOWED: the test caller (127.0.0.1) is not in it. */
const FAR_KEY = 'AIzaSyFarFarAwayKey000000000000000000';
/** Allows only 127.0.0.1, the socket peer of every request in this test. */
const LOCAL_KEY = 'AIzaSyLocalKey00000000000000000000000';

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-ip-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  const keysFile = path.join(dir, 'keys.yaml');
  await writeFile(
    specFile,
    stringify({
      ...keyedSpec('ip', backend.url),
      paths: { '/hello': { get: { operationId: 'hello', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  await writeFile(
    keysFile,
    stringify({
      keys: [
        { sha256: sha256(FAR_KEY), project: '111', name: 'far', restrictions: { serverKeyRestrictions: { allowedIps: [`${ALLOWED}/32`] } } },
        { sha256: sha256(LOCAL_KEY), project: '222', name: 'local', restrictions: { serverKeyRestrictions: { allowedIps: ['127.0.0.1'] } } },
      ],
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${keysFile}`, '--trusted-hops', '2']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('--trusted-hops 2', () => {
  test('one caller-written X-Forwarded-For entry does not choose the IP: 403, backend not reached', async () => {
    backend.clear();
    const r = await send(gw.url, `/hello?key=${FAR_KEY}`, { headers: { 'x-forwarded-for': ALLOWED } });
    assert.equal(r.status, 403, r.body);
    assert.deepEqual(r.json(), { code: 403, message: 'PERMISSION_DENIED: IP address blocked.' });
    assert.equal(backend.requests.length, 0);
  });

  test('the socket peer is the caller then: a key allowing it passes', async () => {
    backend.clear();
    const r = await send(gw.url, `/hello?key=${LOCAL_KEY}`, { headers: { 'x-forwarded-for': ALLOWED } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.requests.length, 1);
  });

  test('a full chain (client, first proxy) still gives the client', async () => {
    const r = await send(gw.url, `/hello?key=${FAR_KEY}`, { headers: { 'x-forwarded-for': `198.51.100.1, ${ALLOWED}, 10.0.0.9` } });
    assert.equal(r.status, 200, r.body);
    const spoofed = await send(gw.url, `/hello?key=${FAR_KEY}`, { headers: { 'x-forwarded-for': `${ALLOWED}, 198.51.100.1, 10.0.0.9` } });
    assert.equal(spoofed.status, 403, spoofed.body);
  });
});
