// Browser keys are public, so a caller can pick any Referer for a key whose
// patterns have several `*`: matching must stay linear in the Referer's length
// (regexes like ^/.*/.*/.*/x$ backtrack polynomially and froze the process).
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
import { busyMaxSeconds } from '../helpers/busy.ts';

const KEY = 'AIzaSyBrowserKey0000000000000000000000';
/** Just under the 60 KiB header limit, with room for the request line and other headers. */
const BIG = 58 * 1024;

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;
let admin: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-ref-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  const keysFile = path.join(dir, 'keys.yaml');
  await writeFile(
    specFile,
    stringify({
      ...keyedSpec('ref', backend.url),
      paths: { '/hello': { get: { operationId: 'hello', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  await writeFile(
    keysFile,
    stringify({
      keys: [
        {
          sha256: createHash('sha256').update(KEY).digest('hex'),
          project: '333',
          name: 'browser',
          restrictions: { browserKeyRestrictions: { allowedReferrers: ['https://example.com/*/*/*/x', 'https://*.*.*.*.*.example.net/*'] } },
        },
      ],
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${keysFile}`, '--admin-port', '0']);
  admin = gw.adminUrl!;
});

after(async () => {
  // A process stuck in a regex never runs its SIGTERM handler.
  gw?.child.kill('SIGTERM');
  const t = setTimeout(() => gw?.child.kill('SIGKILL'), 5000);
  await gw?.exit();
  clearTimeout(t);
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('referrer patterns with several wildcards', () => {
  test('benign referrers keep their verdicts', async () => {
    assert.equal((await send(gw.url, `/hello?key=${KEY}`, { headers: { referer: 'https://example.com/a/b/c/x' } })).status, 200);
    assert.equal((await send(gw.url, `/hello?key=${KEY}`, { headers: { referer: 'https://a.b.c.d.e.example.net/p' } })).status, 200);
    const no = await send(gw.url, `/hello?key=${KEY}`, { headers: { referer: 'https://example.com/a/b/c/y' } });
    assert.deepEqual(no.json(), { code: 403, message: 'PERMISSION_DENIED: Referer blocked.' });
  });

  const hostile: Record<string, string> = {
    'slashes in the path': `https://example.com/${'/'.repeat(BIG)}`,
    'segments in the path': `https://example.com/${'a/'.repeat(BIG / 2)}`,
    'labels in the host': `https://${'a.'.repeat(BIG / 2)}example.org/`,
  };
  for (const [name, referer] of Object.entries(hostile)) {
    test(`${name}, ${referer.length} bytes: 403 at once, /healthz answers meanwhile`, async (t) => {
      backend.clear();
      await busyMaxSeconds(admin); // starts the measurement
      const attack = send(gw.url, `/hello?key=${KEY}`, { headers: { referer } });
      const health = await send(gw.url, '/healthz');
      const r = await attack;
      // The gateway's own measure (CPU time in one stretch), which a loaded machine does
      // not stretch: a backtracking match of this Referer took seconds to minutes.
      const busy = await busyMaxSeconds(admin);
      t.diagnostic(`longest stall: ${(busy * 1000).toFixed(1)} ms of CPU`);
      assert.equal(health.status, 200);
      assert.equal(r.status, 403, r.body);
      assert.deepEqual(r.json(), { code: 403, message: 'PERMISSION_DENIED: Referer blocked.' });
      assert.ok(busy < 0.25, `the serving thread worked ${(busy * 1000).toFixed(0)} ms in one stretch during the attack`);
      assert.equal(backend.requests.length, 0);
    });
  }
});
