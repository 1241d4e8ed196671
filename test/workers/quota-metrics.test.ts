// --workers 2 through the real CLI: quotas and metrics count across the workers as for one process.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { pidsConnectedTo } from './connections.ts';
import { waitFor } from '../helpers/wait.ts';
import { backend, dir, get, spec, startWorkers, stop } from './setup.ts';

describe('--workers 2 (CLI)', () => {
  test('a quota of 10 per minute admits exactly 10 across both workers', async () => {
    const file = path.join(dir, 'quota.yaml');
    await writeFile(file, spec('1'));
    const w = await startWorkers(file);
    try {
      // In parallel, as a busy client would: each worker takes its share of the 30 calls at once.
      const statuses = (await Promise.all(Array.from({ length: 30 }, () => get(`${w.url}/limited`)))).map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 20, statuses.join(','));
      // Both workers took calls (the primary hands connections out in turn; which of them got the
      // 10 admitted ones is up to timing): each logged its own.
      const limited = () => w.gw.logs.filter((l) => l.message === 'request' && (l.httpRequest as { requestUrl?: string } | undefined)?.requestUrl === '/limited');
      await waitFor(() => limited().length === 30, 'an access-log line for each of the 30 calls');
      const lines = limited();
      assert.deepEqual([...new Set(lines.map((l) => l.worker))].sort(), [1, 2], 'both workers answered calls');
    } finally {
      assert.equal(await stop(w), 0);
    }
  });

  test('/metrics on the admin port counts every request once, summed over the workers', async () => {
    const file = path.join(dir, 'metrics.yaml');
    await writeFile(file, spec('1'));
    const w = await startWorkers(file);
    try {
      for (let i = 0; i < 24; i++) assert.equal((await get(`${w.url}/free`)).status, 200);
      const text = (await get(`${w.adminUrl}/metrics`)).body;
      const samples = text.split('\n').filter((l) => l.startsWith('endpoints_gateway_requests_total{'));
      const total = samples.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      assert.equal(total, 24, samples.join('\n'));
      assert.match(text, /^endpoints_gateway_up 1$/m, 'one gateway up, not one per worker');
      const pids = (await w.configz()).workers.map((x) => x.pid);
      assert.deepEqual((await pidsConnectedTo(backend.port, pids)).sort(), [...pids].sort(), 'both workers forwarded calls');
    } finally {
      assert.equal(await stop(w), 0);
    }
  });
});
