// Hot reload: SIGHUP or --watch swaps a valid spec atomically under load; an
// invalid one is refused and the old one keeps serving; in-flight requests
// finish on the config they started with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

let backend: TestBackend;
before(async () => {
  backend = await startTestBackend();
});
after(async () => backend?.close());

function specWith(paths: string[]): string {
  const p: Record<string, unknown> = {};
  for (const name of paths) p[`/${name}`] = { get: op(name) };
  return stringify(baseSpec({ 'x-google-backend': { address: backend.url }, paths: p }));
}

/** Replace the file the way editors and deploy tools do: write aside, rename over. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

// Only a failing check waits the whole time: a reload validates in a worker, seconds on a loaded machine.
async function until(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not met in time');
}

/** Steady load on one route; every answer must be 200. */
function load(url: string, route: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const u = new URL(url);
  let stop = false;
  const failures: string[] = [];
  let count = 0;
  const worker = async () => {
    while (!stop) {
      await new Promise<void>((resolve) => {
        http
          .get({ host: u.hostname, port: u.port, path: route, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              count++;
              if (res.statusCode !== 200) failures.push(String(res.statusCode));
              resolve();
            });
          })
          .on('error', (e) => {
            failures.push(e.message);
            resolve();
          });
      });
    }
  };
  const running = Promise.all(Array.from({ length: 8 }, worker));
  return {
    count: () => count,
    async stop() {
      stop = true;
      await running;
      agent.destroy();
      return { failures, count };
    },
  };
}

describe('hot reload', () => {
  let dir: string;
  let file: string;
  let gw: ChildGateway;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'egw-reload-'));
    file = path.join(dir, 'endpoint.yaml');
    await writeFile(file, specWith(['a', 'slow']));
    gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none', '--watch']);
  });
  after(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  });

  test('--watch: a good spec is swapped in under load, a bad one refused; no request fails', async () => {
    const l = load(gw.url, '/a');
    assert.equal((await send(gw.url, '/b')).status, 404);
    await replace(file, specWith(['a', 'b', 'slow']));
    await until(async () => (await send(gw.url, '/b')).status === 200);
    const atSwap = l.count();
    await replace(file, 'swagger: "2.0"\npaths: [oops');
    await gw.waitForLog((x) => x.message === 'spec reload refused: the new spec is invalid; still serving the previous one');
    assert.equal((await send(gw.url, '/b')).status, 200);
    // The load ran across both reloads: answers came before the swap and after it.
    await until(async () => l.count() > atSwap);
    const { failures, count } = await l.stop();
    assert.deepEqual(failures, []);
    assert.ok(atSwap > 0, `load before the swap: ${atSwap}`);
    assert.ok(count > atSwap, `load after the swap: ${count - atSwap}`);
  });

  test('an in-flight request finishes on the config it started with', async () => {
    await replace(file, specWith(['a', 'slow']));
    await until(async () => (await send(gw.url, '/slow')).status === 200);
    backend.setDelayMs(700);
    try {
      const seen = backend.requests.length;
      const inflight = send(gw.url, '/slow');
      // Swap the spec once the request is past routing: the backend has it.
      await until(async () => backend.requests.length > seen);
      await replace(file, specWith(['a']));
      await until(async () => (await send(gw.url, '/slow')).status === 404);
      assert.equal((await inflight).status, 200);
    } finally {
      backend.setDelayMs(0);
    }
  });
});

test('SIGHUP reloads the spec (no --watch)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-hup-'));
  const file = path.join(dir, 'endpoint.yaml');
  await writeFile(file, specWith(['a']));
  const gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none']);
  try {
    await replace(file, specWith(['a', 'b']));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await send(gw.url, '/b')).status, 404, 'not watching: nothing changes by itself');
    gw.child.kill('SIGHUP');
    await gw.waitForLog((x) => x.message === 'spec reloaded');
    assert.equal((await send(gw.url, '/b')).status, 200);
  } finally {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
});
