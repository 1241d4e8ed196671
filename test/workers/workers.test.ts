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
});
