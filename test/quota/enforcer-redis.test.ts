import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { QuotaLimit } from '../../src/config/types.ts';
import type { GatewayError } from '../../src/errors.ts';
import { createQuotaEnforcer, type QuotaEnforcer } from '../../src/quota/enforcer.ts';
import { parseQuotaUnit } from '../../src/quota/units.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const SERVICE = 'bookstore.endpoints.demo.cloud.goog';
const RAW_KEY = 'AIzaSyTHIS-IS-A-SECRET-KEY';
const alice = { project: '111', keyHash: createHash('sha256').update(RAW_KEY).digest('hex') };
const cost = [{ metric: 'm', cost: 1 }];

function limit(name: string, unit: string, value: number): QuotaLimit {
  const u = parseQuotaUnit(unit);
  if ('error' in u) throw new Error(u.error);
  return { name, metric: 'm', unit, limit: value, ...u };
}

let redis: TestRedis;
let inspect: Redis;
const open: QuotaEnforcer[] = [];
let prefixes = 0;

/**
 * How long a Redis answer may take before a charge falls back to memory, unless
 * a test says otherwise: the default 50 ms is not always met on a loaded
 * machine, and one fallback breaks "exactly N".
 */
const STORE_TIMEOUT_MS = 3000;

/** An enforcer on the test Redis with its own key prefix, connected before use. */
async function enforcer(limits: QuotaLimit[], extra: { keyPrefix?: string; log?: (...a: unknown[]) => void; storeTimeoutMs?: number } = {}) {
  const q = createQuotaEnforcer({ serviceName: SERVICE, limits, store: redis.url, keyPrefix: extra.keyPrefix ?? `t${++prefixes}`, storeTimeoutMs: STORE_TIMEOUT_MS, ...extra });
  open.push(q);
  assert.equal(await q.ready(30_000), true, 'connected to Redis');
  return q;
}

const admitted = async (calls: Promise<GatewayError | null>[]) => (await Promise.all(calls)).filter((r) => r === null).length;

/** Waits for `cond`; only a failing test waits the whole `ms`, so it is sized for a starved machine. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('quota enforcer, on Redis', () => {
  before(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.socketPath, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    inspect.on('error', () => {});
  });

  after(async () => {
    await Promise.all(open.map((q) => q.close()));
    inspect?.disconnect();
    await redis?.stop();
  });

  test('exact admission, counters in Redis keyed by project or key hash, never the key', async () => {
    const q = await enforcer([limit('proj', '1/min/{project}', 7), limit('key', '1/min/{key}', 100)], { keyPrefix: 'exact' });
    assert.equal(await admitted(Array.from({ length: 20 }, () => q.charge(cost, alice))), 7);
    assert.equal(q.stats.fallbacks, 0);
    const keys = (await inspect.keys('exact:*')).sort();
    assert.deepEqual(keys, [`exact:${SERVICE}:key:k:${alice.keyHash}`, `exact:${SERVICE}:proj:p:111`]);
    assert.ok(keys.every((k) => !k.includes(RAW_KEY)));
    assert.equal(await inspect.get(`exact:${SERVICE}:key:k:${alice.keyHash}`), '7', 'refused calls were refunded on the other limit');
    const ttl = await inspect.ttl(`exact:${SERVICE}:proj:p:111`);
    assert.ok(ttl > 50 && ttl <= 60, `window TTL ${ttl}`);
  });

  test('per-person limits (x-endpoints-quota): counters in Redis per subject and per claim value; no verified user shares the project', async () => {
    const person = (name: string, unit: string, value: number): QuotaLimit => {
      const u = parseQuotaUnit(unit, true);
      if ('error' in u) throw new Error(u.error);
      return { name, metric: 'm', unit, limit: value, ...u, declaredIn: 'x-endpoints-quota' };
    };
    const q = await enforcer([person('user', '1/min/{user}', 3), person('tenant', '1/min/{claim.org}', 5)], { keyPrefix: 'person' });
    const ann = { project: '111', claims: { sub: 'ann', org: 'acme' } };
    const ben = { project: '111', claims: { sub: 'ben', org: 'acme' } };
    // One after the other: calls racing on two limits at once may be refused by either.
    const inTurn = async (who: typeof ann, n: number) => {
      let ok = 0;
      for (let i = 0; i < n; i++) if ((await q.charge(cost, who)) === null) ok++;
      return ok;
    };
    assert.equal(await inTurn(ann, 6), 3);
    // Ben has his own 3, but the tenant's 5 are shared: ann's 3 leave him 2.
    assert.equal(await inTurn(ben, 6), 2);
    assert.equal(await admitted(Array.from({ length: 4 }, () => q.charge(cost, { project: '111' }))), 3);
    assert.equal(q.stats.fallbacks, 0);
    assert.deepEqual((await inspect.keys('person:*')).sort(), [
      `person:${SERVICE}:tenant:p:111`,
      `person:${SERVICE}:tenant:u:org:acme`,
      `person:${SERVICE}:user:p:111`,
      `person:${SERVICE}:user:u:sub:ann`,
      `person:${SERVICE}:user:u:sub:ben`,
    ]);
  });

  test('two instances on one Redis together admit exactly N', async () => {
    const l = [limit('shared', '1/min/{project}', 10)];
    const a = await enforcer(l, { keyPrefix: 'pair' });
    const b = await enforcer(l, { keyPrefix: 'pair' });
    const calls: Promise<GatewayError | null>[] = [];
    for (let i = 0; i < 15; i++) calls.push(a.charge(cost, alice), b.charge(cost, { project: '111', keyHash: 'ab'.repeat(32) }));
    assert.equal(await admitted(calls), 10);
    assert.equal(a.stats.refusals + b.stats.refusals, 20);
  });

  test('two gateway processes on one Redis together admit exactly N', async () => {
    const enforcerUrl = new URL('../../src/quota/enforcer.ts', import.meta.url).href;
    const code = `
      import { createQuotaEnforcer } from ${JSON.stringify(enforcerUrl)};
      const o = JSON.parse(process.env.QUOTA_OPTS);
      const q = createQuotaEnforcer(o.enforcer);
      if (!(await q.ready(30000))) throw new Error('not connected');
      process.stdout.write('ready\\n');
      process.stdin.once('data', async () => {
        const r = await Promise.all(Array.from({ length: o.calls }, () => q.charge(o.costs, o.consumer)));
        process.stdout.write(JSON.stringify({ admitted: r.filter((x) => x === null).length, fallbacks: q.stats.fallbacks }) + '\\n');
        await q.close();
        process.stdin.destroy();
      });`;
    const env = {
      ...process.env,
      QUOTA_OPTS: JSON.stringify({
        enforcer: { serviceName: SERVICE, limits: [limit('procs', '1/min/{project}', 25)], store: redis.url, keyPrefix: 'procs', storeTimeoutMs: STORE_TIMEOUT_MS },
        calls: 40,
        costs: cost,
        consumer: { project: '111' },
      }),
    };
    const children = [0, 1].map(() => spawn(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['pipe', 'pipe', 'inherit'] }));
    try {
      const lines = children.map((c) => {
        const out: string[] = [];
        let buf = '';
        c.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            out.push(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
        return out;
      });
      await until('both processes ready', () => lines.every((l) => l[0] === 'ready'), 60_000);
      for (const c of children) c.stdin.write('go\n');
      await until('both results', () => lines.every((l) => l.length === 2), 60_000);
      const results = lines.map((l) => JSON.parse(l[1]!) as { admitted: number; fallbacks: number });
      assert.deepEqual(results.map((r) => r.fallbacks), [0, 0]);
      assert.equal(results[0]!.admitted + results[1]!.admitted, 25);
      await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
      assert.deepEqual(children.map((c) => c.exitCode), [0, 0]);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    }
  });

  test('the window resets in Redis', async () => {
    const q = await enforcer([limit('fast', '1/s/{key}', 3)]);
    // All at once, so all fall in the 1 s window the first opens, however slow the machine.
    const first = await Promise.all(Array.from({ length: 5 }, () => q.charge(cost, alice)));
    assert.equal(first.filter((r) => r === null).length, 3);
    for (const err of first.filter((r) => r !== null)) assert.equal(err.headers?.['Retry-After'], '1');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await admitted(Array.from({ length: 5 }, () => q.charge(cost, alice))), 3);
  });

  test('Redis killed mid-run: per-instance memory limits with bounded latency, then back to Redis after restart', async () => {
    const logs: { level: string; msg: string }[] = [];
    const q = await enforcer([limit('outage', '1/min/{project}', 5)], {
      keyPrefix: 'outage',
      log: (level, msg) => logs.push({ level: level as string, msg: msg as string }),
    });
    assert.equal(await q.charge(cost, alice), null);
    assert.equal(await q.charge(cost, alice), null);
    assert.equal(q.stats.fallbacks, 0);

    await redis.kill();
    const started = Date.now();
    const during: (GatewayError | null)[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = Date.now();
      during.push(await q.charge(cost, alice));
      // At once, not after the 3 s store timeout: the connection is known to be down.
      assert.ok(Date.now() - t0 < 1000, `charge ${i} took ${Date.now() - t0} ms`);
    }
    // The memory fallback starts from zero: exactly 5 more admitted on this instance.
    assert.equal(during.filter((r) => r === null).length, 5);
    assert.equal(during.filter((r) => r?.status === 429).length, 35);
    assert.ok(q.stats.fallbacks >= 40, `fallbacks ${q.stats.fallbacks}`);
    const warnings = logs.filter((l) => l.msg.startsWith('quota store unavailable'));
    assert.equal(warnings.length, 1, 'fallback logging is rate-limited');
    assert.ok(Date.now() - started < 20_000, `40 charges took ${Date.now() - started} ms`);

    await redis.restart();
    assert.equal(await q.ready(30_000), true, 'reconnected');
    await until('reconnect logged', () => logs.some((l) => l.msg.startsWith('quota store reconnected')));
    const fallbacksBefore = q.stats.fallbacks;
    // Redis came back empty: a fresh shared window of 5.
    assert.equal(await admitted(Array.from({ length: 8 }, () => q.charge(cost, alice))), 5);
    assert.equal(q.stats.fallbacks, fallbacksBefore, 'no more fallbacks');
    assert.equal(await inspect.get(`outage:${SERVICE}:outage:p:111`), '8');
  });

  test('a Redis that stops answering costs at most the timeout per call, and is used again when it answers', async () => {
    const q = await enforcer([limit('slow', '1/min/{project}', 3)], { keyPrefix: 'slow', storeTimeoutMs: 100 });
    // Another consumer: whether or not this first call met the timeout, alice starts from zero below.
    await q.charge(cost, { project: '997' });
    redis.pause();
    try {
      const t0 = Date.now();
      const r = await Promise.all(Array.from({ length: 6 }, () => q.charge(cost, alice)));
      const took = Date.now() - t0;
      // Bounded by the timeout (a Redis that never answers would hold them for ever), with room for a loaded machine.
      assert.ok(took < 3000, `took ${took} ms`);
      assert.equal(r.filter((x) => x === null).length, 3, 'the memory fallback enforces the limit');
      assert.ok(q.stats.fallbacks >= 6);
    } finally {
      redis.resume();
    }
    // Used again: a call answered by Redis in time is counted there.
    let project = 900;
    await until('a call counted in Redis again', async () => {
      const f = q.stats.fallbacks;
      project++;
      assert.equal(await q.charge(cost, { project: String(project) }), null);
      return q.stats.fallbacks === f;
    });
    assert.equal(await inspect.get(`slow:${SERVICE}:slow:p:${project}`), '1', 'counted in Redis');
  });

  test('an unreachable store at startup never blocks or crashes', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', '1/min/{project}', 2)], store: `${redis.socketPath}.missing` });
    open.push(q);
    assert.equal(await q.ready(200), false);
    const t0 = Date.now();
    assert.equal(await admitted(Array.from({ length: 4 }, () => q.charge(cost, alice))), 2);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.equal(q.stats.fallbacks, 4);
    await until('a connection error is counted', () => q.stats.storeErrors > 0);
    const t1 = Date.now();
    await q.close();
    assert.ok(Date.now() - t1 < 5000, 'close does not hang');
  });

  test('close() disconnects from Redis', async () => {
    const clients = async () => String(await inspect.call('CLIENT', 'LIST')).trim().split('\n').length;
    const base = await clients();
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', '1/min/{project}', 2)], store: redis.url });
    assert.equal(await q.ready(30_000), true);
    assert.equal(await clients(), base + 1);
    await q.close();
    await until('the connection is gone', async () => (await clients()) === base);
  });
});
