// --workers 2 through the real CLI: a worker that dies is replaced; SIGTERM drains every worker.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { waitFor } from '../helpers/wait.ts';
import { pidsConnectedTo } from './connections.ts';
import { backend, dir, get, spec, startWorkers, stop } from './setup.ts';

describe('--workers 2 (CLI)', () => {
  test('a killed worker is logged and replaced; the others serve meanwhile', async () => {
    const file = path.join(dir, 'kill.yaml');
    await writeFile(file, spec('1'));
    const w = await startWorkers(file);
    try {
      const before = await w.configz();
      const victim = before.workers.find((x) => x.worker === 1)!;
      process.kill(victim.pid, 'SIGKILL');
      const died = await w.gw.waitForLog((l) => l.message?.toString().startsWith('worker exited unexpectedly') === true);
      assert.equal(died.worker, 1);
      assert.equal(died.pid, victim.pid);
      assert.equal(died.signal, 'SIGKILL');
      // The survivor serves while the replacement starts.
      assert.equal((await get(`${w.url}/free`)).status, 200);
      const back = await w.gw.waitForLog((l) => l.message === 'worker replaced: serving again');
      assert.equal(back.worker, 1);
      assert.notEqual(back.pid, victim.pid);
      const after = await w.configz();
      assert.deepEqual(after.workers.map((x) => x.worker), [1, 2]);
      assert.ok(after.workers.every((x) => x.pid !== victim.pid && x.config_id === before.config_id));
      assert.equal((await get(`${w.adminUrl}/readyz`)).status, 200);
      // The replacement is the leader again: a reload still reaches both.
      await writeFile(file, spec('2'));
      w.gw.child.kill('SIGHUP');
      await waitFor(async () => (await w.configz()).workers.every((x) => /^2-/.test(x.config_id)), 'both workers on the new config');
    } finally {
      assert.equal(await stop(w), 0);
    }
  });

  test('SIGTERM under load: every accepted request is answered whole, and the gateway exits 0', async () => {
    const file = path.join(dir, 'term.yaml');
    await writeFile(file, spec('1'));
    const w = await startWorkers(file, ['--shutdown-grace', '5s']);
    backend.setDelayMs(150);
    backend.clear();
    const u = new URL(w.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
    let stopLoad = false;
    let ok = 0;
    let okAfterSignal = 0;
    let signalled = false;
    const bad: string[] = [];
    const refusedOrReset: string[] = [];
    const one = () =>
      new Promise<void>((resolve) => {
        const req = http.get({ host: u.hostname, port: u.port, path: '/free', agent }, (res) => {
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
          if (e.code === 'ECONNREFUSED') stopLoad = true;
          resolve();
        });
      });
    const client = async () => {
      const end = Date.now() + 90_000; // a safety net: the loop ends when connections are refused
      while (!stopLoad && Date.now() < end) await one();
    };
    try {
      const clients = Array.from({ length: 40 }, client);
      await waitFor(() => ok >= 80, 'the load to run');
      const pids = (await w.configz()).workers.map((x) => x.pid);
      assert.deepEqual((await pidsConnectedTo(backend.port, pids)).sort(), [...pids].sort(), 'both workers under load');
      signalled = true;
      w.gw.child.kill('SIGTERM');
      const code = await w.gw.exit();
      stopLoad = true;
      await Promise.all(clients);
      assert.equal(code, 0, w.gw.stderr());
      assert.deepEqual(bad, [], 'no error status and no broken response');
      assert.ok(okAfterSignal > 0, 'requests in flight at SIGTERM completed');
      assert.equal(backend.requests.length, ok, 'every request the backend saw came back whole');
      for (const e of refusedOrReset) assert.ok(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(e), e);
      assert.equal(w.gw.logs.filter((l) => l.message === 'stopped').length, 3, 'both workers and the primary stopped');
    } finally {
      agent.destroy();
      backend.setDelayMs(0);
      w.gw.child.kill('SIGKILL');
    }
  });
});
