// Shared by the --workers tests: a backend, a spec with a quota, the gateway started with --workers 2.
import { after, before } from 'node:test';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';

const SERVICE = 'workers.endpoints.test-project.cloud.goog';
export let backend: TestBackend;
export let dir: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-workers-'));
});
after(async () => {
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `/limited` costs one `calls` against 10 per minute per project; `/free` has no quota. */
export function spec(version: string): string {
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

export interface Workers {
  readonly gw: ChildGateway;
  readonly url: string;
  readonly adminUrl: string;
  /** /configz on the admin port (the primary's: the leader's config with each worker's). */
  configz(): Promise<{ config_id: string; workers: { worker: number; pid: number; config_id: string }[] }>;
}

/** The gateway with --workers 2: ready once the primary says every worker listens (its line carries `workers`). */
export async function startWorkers(file: string, extra: string[] = []): Promise<Workers> {
  const gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none', '--admin-port', '0', '--workers', '2', ...extra]);
  const line = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening' && l.workers === 2);
  return {
    gw,
    url: `http://127.0.0.1:${String(line.port)}`,
    adminUrl: `http://127.0.0.1:${String(line.adminPort)}`,
    configz: async () => JSON.parse((await get(`http://127.0.0.1:${String(line.adminPort)}/configz`)).body),
  };
}

export async function stop(w: Workers): Promise<number | null> {
  w.gw.child.kill('SIGTERM');
  return w.gw.exit();
}

/** Fresh connection per call: the primary hands connections to the workers in turn. */
export function get(url: string): Promise<{ status: number; body: string }> {
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

