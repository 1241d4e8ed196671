// A reload (SIGHUP) against the real CLI with Redis counters: a limit the new
// spec leaves unchanged keeps its count (in memory and in Redis), a changed
// limit is enforced at its new value, and the process keeps its one Redis
// connection whatever the number of reloads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const SERVICE = 'quota-reload.endpoints.test-project.cloud.goog';

let backend: TestBackend;
let redis: TestRedis;
let inspect: Redis;
let dir: string;
before(async () => {
  backend = await startTestBackend();
  redis = await startRedis();
  inspect = new Redis(redis.socketPath, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  inspect.on('error', () => {});
  dir = await mkdtemp(path.join(tmpdir(), 'quota-reload-'));
});
after(async () => {
  inspect?.disconnect();
  await redis?.stop();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `reads` limited to `reads`, `writes` to `writes` per minute, both per producer project (no key needed). */
function spec(reads: number, writes: number, version: string): string {
  return stringify(
    baseSpec({
      info: { title: 'quota reload', version },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      'x-google-management': {
        metrics: [
          { name: 'reads', valueType: 'INT64', metricKind: 'DELTA' },
          { name: 'writes', valueType: 'INT64', metricKind: 'DELTA' },
        ],
        quota: {
          limits: [
            { name: 'reads-limit', metric: 'reads', unit: '1/min/{project}', values: { STANDARD: reads } },
            { name: 'writes-limit', metric: 'writes', unit: '1/min/{project}', values: { STANDARD: writes } },
          ],
        },
      },
      paths: {
        '/read': { get: op('read', { security: [], 'x-google-quota': { metricCosts: { reads: 1 } } }) },
        '/write': { get: op('write', { security: [], 'x-google-quota': { metricCosts: { writes: 1 } } }) },
      },
    }),
  );
}

async function statuses(gw: ChildGateway, route: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(gw.url, route)).status);
  return out;
}

/** Connections on the Redis server other than this test's own. */
const gatewayClients = async () => ((await inspect.call('CLIENT', 'LIST')) as string).trim().split('\n').length - 1;

describe('quota across reloads (CLI, SIGHUP, Redis)', () => {
  let gw: ChildGateway;
  const file = () => path.join(dir, 'spec.yaml');
  before(async () => {
    await writeFile(file(), spec(5, 2, '1'));
    gw = await startChildGateway(['--spec', file(), '--keys', 'none', '--backend-auth', 'none', '--quota-store', redis.url]);
  });
  after(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  });

  async function reloadTo(text: string, version: string): Promise<void> {
    await writeFile(`${file()}.tmp`, text);
    await rename(`${file()}.tmp`, file());
    const before = gw.logs.length;
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => gw.logs.indexOf(l) >= before && l.message === 'spec reloaded');
    assert.ok(gw.logs.some((l) => l.message === 'spec reloaded' && typeof l.config_id === 'string'), version);
  }

  test('an unchanged limit keeps its count; a changed one takes its new value; one Redis connection throughout', async () => {
    assert.deepEqual(await statuses(gw, '/read', 3), [200, 200, 200]);
    assert.deepEqual(await statuses(gw, '/write', 3), [200, 200, 429]);
    assert.equal(await gatewayClients(), 1);

    // writes-limit raised to 4; reads-limit unchanged.
    await reloadTo(spec(5, 4, '2'), '2');
    assert.deepEqual(await statuses(gw, '/read', 3), [200, 200, 429], 'reads: 3 of 5 were used before the reload');
    assert.deepEqual(await statuses(gw, '/write', 3), [200, 429, 429], 'writes: the count carries on in Redis against 4');
    for (let v = 3; v <= 5; v++) await reloadTo(spec(5, v + 2, String(v)), String(v));
    assert.deepEqual(await statuses(gw, '/read', 1), [429], 'still the same reads counter after four reloads');
    assert.equal(await gatewayClients(), 1, 'four reloads that changed a limit opened no new connection');
  });
});
