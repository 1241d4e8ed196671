// The process-lifetime quota runtime: successive configs' enforcers keep the
// counters of limits that did not change (in memory and in Redis) and share
// one Redis connection, whatever the number of reloads.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { QuotaLimit } from '../../src/config/types.ts';
import type { GatewayError } from '../../src/errors.ts';
import { createQuotaRuntime, type QuotaEnforcer, type QuotaRuntime } from '../../src/quota/enforcer.ts';
import { parseQuotaUnit } from '../../src/quota/units.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const SERVICE = 'runtime.endpoints.demo.cloud.goog';
const who = { project: '111' };

function limit(name: string, metric: string, value: number, unit = '1/min/{project}'): QuotaLimit {
  const u = parseQuotaUnit(unit);
  if ('error' in u) throw new Error(u.error);
  return { name, metric, unit, limit: value, ...u };
}

/** How many of `n` one-point calls on `metric` are admitted, one after another. */
async function admits(q: QuotaEnforcer, metric: string, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const r: GatewayError | null = await q.charge([{ metric, cost: 1 }], who);
    if (r === null) ok++;
  }
  return ok;
}

describe('quota runtime, in memory', () => {
  test('an unchanged limit keeps its counter across configs; a changed or added one starts afresh', async () => {
    const rt = createQuotaRuntime();
    const first = rt.enforcerFor(SERVICE, [limit('a', 'ma', 5), limit('b', 'mb', 5)]);
    assert.equal(await admits(first, 'ma', 3), 3);
    assert.equal(await admits(first, 'mb', 5), 5);
    // `a` unchanged, `b` raised, `c` added.
    const second = rt.enforcerFor(SERVICE, [limit('a', 'ma', 5), limit('b', 'mb', 6), limit('c', 'mc', 1)], first);
    assert.equal(await admits(second, 'ma', 5), 2, 'a: 3 of 5 were used before the reload');
    assert.equal(await admits(second, 'mb', 10), 6, 'b: a new definition counts from zero');
    assert.equal(await admits(second, 'mc', 2), 1);
    // The same limit under another service is another counter.
    const other = rt.enforcerFor('other.example.com', [limit('a', 'ma', 5)], second);
    assert.equal(await admits(other, 'ma', 6), 5);
    assert.equal(rt.stats.refusals, 3 + 4 + 1 + 1, 'stats are the runtime\'s, across enforcers');
    await rt.close();
  });

  test('an enforcer\'s close() leaves the runtime (and the next config) working', async () => {
    const rt = createQuotaRuntime();
    const first = rt.enforcerFor(SERVICE, [limit('a', 'ma', 2)]);
    assert.equal(await admits(first, 'ma', 1), 1);
    const second = rt.enforcerFor(SERVICE, [limit('a', 'ma', 2)], first);
    await first.close();
    assert.equal(await admits(second, 'ma', 3), 1);
    await rt.close();
    assert.throws(() => rt.enforcerFor(SERVICE, []), /closed/);
  });
});

describe('quota runtime, on Redis', () => {
  let redis: TestRedis;
  let inspect: Redis;
  const runtimes: QuotaRuntime[] = [];

  before(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.socketPath, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    inspect.on('error', () => {});
  });
  after(async () => {
    await Promise.all(runtimes.map((r) => r.close()));
    inspect?.disconnect();
    await redis?.stop();
  });

  /** Connections the server has, but this test's own inspecting one. */
  const clients = async () => ((await inspect.call('CLIENT', 'LIST')) as string).trim().split('\n').length - 1;

  test('no connection until a limit needs one; then one for the life of the runtime, whatever the reloads', async () => {
    const rt = createQuotaRuntime({ store: redis.url, keyPrefix: 'one' });
    runtimes.push(rt);
    const none = rt.enforcerFor(SERVICE, []);
    assert.equal(await rt.ready(100), true);
    assert.equal(await clients(), 0, 'a config without limits opens no connection');
    let q = rt.enforcerFor(SERVICE, [limit('a', 'ma', 100)], none);
    assert.equal(await rt.ready(3000), true);
    assert.equal(await clients(), 1);
    for (let v = 1; v <= 5; v++) {
      q = rt.enforcerFor(SERVICE, [limit('a', 'ma', 100), limit('b', 'mb', v)], q);
      assert.equal(await admits(q, 'mb', 1), 1);
    }
    assert.equal(await clients(), 1, 'five reloads, each changing a limit: still one connection');
    await rt.close();
    assert.equal(await clients(), 0, 'close() disconnects it');
  });

  test('an unchanged limit keeps its counter in Redis; a changed one is enforced at its new value', async () => {
    const rt = createQuotaRuntime({ store: redis.url, keyPrefix: 'carry' });
    runtimes.push(rt);
    const first = rt.enforcerFor(SERVICE, [limit('a', 'ma', 5), limit('b', 'mb', 5)]);
    assert.equal(await rt.ready(3000), true);
    assert.equal(await admits(first, 'ma', 3), 3);
    assert.equal(await admits(first, 'mb', 5), 5);
    assert.equal(await inspect.get(`carry:${SERVICE}:a:p:111`), '3');
    const second = rt.enforcerFor(SERVICE, [limit('a', 'ma', 5), limit('b', 'mb', 7)], first);
    assert.equal(await inspect.get(`carry:${SERVICE}:a:p:111`), '3', 'the reload left the counter alone');
    assert.equal(await admits(second, 'ma', 5), 2);
    // b's counter is in Redis under the same key: it carries on, against the new value.
    assert.equal(await admits(second, 'mb', 5), 2);
    assert.equal(rt.stats.fallbacks, 0, 'every call was answered by Redis');
  });
});
