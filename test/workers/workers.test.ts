// --workers 2 through the real CLI: the two serving processes behave as one gateway to callers and operators.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { pidsConnectedTo } from './connections.ts';

const SERVICE = 'workers.endpoints.test-project.cloud.goog';
let backend: TestBackend;
let dir: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-workers-'));
});
after(async () => {
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `/limited` costs one `calls` against 10 per minute per project; `/free` has no quota. */
function spec(version: string): string {
  return stringify(
    baseSpec({
      info: { title: 'workers', version },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      'x-google-management': {
        metrics: [{ name: 'calls', valueType: 'INT64', metricKind: 'DELTA' }],
        quota: { limits: [{ name: 'calls-limit', metric: 'calls', unit: '1/min/{project}', values: { STANDARD: 10 } }] },
      },
      paths: {
        '/limited': { get: op('limited', { security: [], 'x-google-quota': { metricCosts: { calls: 1 } } }) },
        '/free': { get: op('free', { security: [] }) },
      },
    }),
  );
}

interface Workers {
  readonly gw: ChildGateway;
  readonly url: string;
  readonly adminUrl: string;
  /** /configz on the admin port (the primary's: the leader's config with each worker's). */
  configz(): Promise<{ config_id: string; workers: { worker: number; pid: number; config_id: string }[] }>;
}

/** The gateway with --workers 2: ready once the primary says every worker listens (its line carries `workers`). */
async function startWorkers(file: string, extra: string[] = []): Promise<Workers> {
  const gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none', '--admin-port', '0', '--workers', '2', ...extra]);
  const line = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening' && l.workers === 2);
  return {
    gw,
    url: `http://127.0.0.1:${String(line.port)}`,
    adminUrl: `http://127.0.0.1:${String(line.adminPort)}`,
    configz: async () => JSON.parse((await get(`http://127.0.0.1:${String(line.adminPort)}/configz`)).body),
  };
}

async function stop(w: Workers): Promise<number | null> {
  w.gw.child.kill('SIGTERM');
  return w.gw.exit();
}

/** Fresh connection per call: the primary hands connections to the workers in turn. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

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
      // Both forwarded admitted calls: each holds its own keep-alive connection to the backend.
      const pids = (await w.configz()).workers.map((x) => x.pid);
      assert.equal(pids.length, 2);
      assert.deepEqual((await pidsConnectedTo(backend.port, pids)).sort(), [...pids].sort(), 'both workers forwarded calls');
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
      const refused = w.gw.logs.filter((l) => typeof l.message === 'string' && l.message.startsWith('spec reload refused'));
      assert.equal(refused.length, 1, JSON.stringify(refused));
      assert.equal(refused[0]!.worker, 1, 'the leader tried it');
      for (let i = 0; i < 6; i++) assert.equal((await get(`${w.url}/free`)).status, 200);
    } finally {
      assert.equal(await stop(w), 0);
    }
  });

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
