// SIGTERM under load: stop accepting, finish what was accepted, exit 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

let backend: TestBackend;
before(async () => {
  backend = await startTestBackend();
  backend.setDelayMs(150);
});
after(async () => backend?.close());

test('a load test across SIGTERM loses no accepted request, and the process exits 0', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-term-'));
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(spec, stringify(baseSpec({ 'x-google-backend': { address: backend.url }, paths: { '/work': { get: op('work') } } })));
  const gw = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--shutdown-grace', '5s']);
  const u = new URL(gw.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });

  let stop = false;
  let ok = 0;
  let okAfterSignal = 0;
  let signalled = false;
  const bad: string[] = [];
  const refusedOrReset: string[] = [];
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: u.hostname, port: u.port, path: '/work', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) {
            ok++;
            if (signalled) okAfterSignal++;
          } else bad.push(String(res.statusCode));
          resolve();
        });
        res.on('error', (e) => {
          bad.push(`response error ${e.message}`);
          resolve();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        refusedOrReset.push(e.code ?? e.message);
        if (e.code === 'ECONNREFUSED') stop = true;
        resolve();
      });
    });
  const worker = async () => {
    // A safety net only: the loop ends when the gateway refuses connections after SIGTERM.
    const end = Date.now() + 90_000;
    while (!stop && Date.now() < end) await one();
  };
  backend.clear();
  const workers = Array.from({ length: 40 }, worker);
  // SIGTERM once the load is running: answers have come back, and 40 more requests are in flight.
  await waitFor(() => ok >= 40, 'the load to run');
  signalled = true;
  gw.child.kill('SIGTERM');
  const code = await gw.exit();
  stop = true;
  await Promise.all(workers);
  agent.destroy();

  assert.equal(code, 0, gw.stderr());
  assert.deepEqual(bad, [], 'no error status and no broken response');
  assert.ok(okAfterSignal > 0, 'requests in flight at SIGTERM completed');
  // Every request the backend saw came back whole to its caller.
  assert.equal(backend.requests.length, ok);
  assert.ok(ok > 40, `load ran: ${ok} responses`);
  for (const e of refusedOrReset) assert.ok(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(e), e);
  assert.ok(gw.logs.some((l) => l.message === 'stopped'));
});
