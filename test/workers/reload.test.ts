// --workers 2 through the real CLI: a reload moves every worker to one config id.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { waitFor } from '../helpers/wait.ts';
import { dir, get, spec, startWorkers, stop } from './setup.ts';

describe('--workers 2 (CLI)', () => {
  test('a reload reaches both workers with one config id; a refused one is refused and logged once', async () => {
    const file = path.join(dir, 'reload.yaml');
    await writeFile(file, spec('1'));
    const w = await startWorkers(file);
    try {
      const first = await w.configz();
      assert.deepEqual(first.workers.map((x) => x.config_id), [first.config_id, first.config_id]);

      await writeFile(file, spec('2'));
      w.gw.child.kill('SIGHUP');
      let now = first;
      await waitFor(async () => {
        now = await w.configz();
        return now.config_id !== first.config_id && now.workers.every((x) => x.config_id === now.config_id);
      }, 'both workers on the new config');
      assert.match(now.config_id, /^2-/);

      await writeFile(file, 'swagger: "2.0"\npaths: [');
      w.gw.child.kill('SIGHUP');
      await w.gw.waitForLog((l) => typeof l.message === 'string' && l.message.startsWith('spec reload refused'));
      // Then a good one: once both serve it, any refusal a follower would have logged is out too.
      await writeFile(file, spec('3'));
      w.gw.child.kill('SIGHUP');
      await waitFor(async () => {
        now = await w.configz();
        return /^3-/.test(now.config_id) && now.workers.every((x) => x.config_id === now.config_id);
      }, 'both workers on the third config');
      // Each worker's log is one ordered stream: once its line for the third config is out, so is any refusal before it.
      for (const worker of [1, 2]) await w.gw.waitForLog((l) => l.message === 'spec reloaded' && l.worker === worker && /^3-/.test(String(l.config_id)));
      const refused = w.gw.logs.filter((l) => typeof l.message === 'string' && l.message.startsWith('spec reload refused'));
      assert.equal(refused.length, 1, JSON.stringify(refused));
      assert.equal(refused[0]!.worker, 1, 'the leader tried it');
      for (let i = 0; i < 6; i++) assert.equal((await get(`${w.url}/free`)).status, 200);
    } finally {
      assert.equal(await stop(w), 0);
    }
  });
});
