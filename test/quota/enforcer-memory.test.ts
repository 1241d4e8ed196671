import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { QuotaLimit } from '../../src/config/types.ts';
import { GatewayError } from '../../src/errors.ts';
import { createQuotaEnforcer } from '../../src/quota/enforcer.ts';
import { parseQuotaUnit } from '../../src/quota/units.ts';

const SERVICE = 'bookstore.endpoints.demo.cloud.goog';
const hash = (key: string) => createHash('sha256').update(key).digest('hex');

function limit(name: string, metric: string, unit: string, value: number): QuotaLimit {
  const u = parseQuotaUnit(unit);
  if ('error' in u) throw new Error(u.error);
  return { name, metric, unit, limit: value, ...u };
}

const readLimit = limit('read-limit', 'read-requests', '1/min/{project}', 5);
const readCost = [{ metric: 'read-requests', cost: 1 }];
const alice = { project: '111', keyHash: hash('AIza-alice') };
const bob = { project: '111', keyHash: hash('AIza-bob') };
const carol = { project: '222', keyHash: hash('AIza-carol') };

async function admittedCount(results: Promise<GatewayError | null>[]) {
  return (await Promise.all(results)).filter((r) => r === null).length;
}

describe('quota enforcer, in memory', () => {
  test('admits exactly N per window, refuses the N+1st with the ESP-style 429', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [readLimit] });
    for (let i = 0; i < 5; i++) assert.equal(await q.charge(readCost, alice), null, `call ${i + 1}`);
    const err = await q.charge(readCost, alice);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 429);
    assert.equal(
      err.message,
      `RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'read-requests' and limit 'read-limit' of service '${SERVICE}' for consumer 'project_number:111'.`,
    );
    assert.equal(err.reason, 'quota_exceeded');
    const retry = Number(err.headers?.['Retry-After']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(JSON.parse(err.body()).code, 429);
    assert.deepEqual({ ...q.stats }, { checks: 6, refusals: 1, fallbacks: 0, storeErrors: 0 });
    await q.close();
  });

  test('exact under concurrency: 20 simultaneous calls against a limit of 7', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', 'm', '1/min/{project}', 7)] });
    const calls = Array.from({ length: 20 }, () => q.charge([{ metric: 'm', cost: 1 }], alice));
    assert.equal(await admittedCount(calls), 7);
    assert.equal(q.stats.refusals, 13);
    await q.close();
  });

  test('all keys of one project share its quota; other projects have their own', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [readLimit] });
    for (let i = 0; i < 3; i++) assert.equal(await q.charge(readCost, alice), null);
    for (let i = 0; i < 2; i++) assert.equal(await q.charge(readCost, bob), null);
    assert.ok(await q.charge(readCost, bob), 'bob shares alice\'s exhausted project quota');
    assert.ok(await q.charge(readCost, alice));
    assert.ok(await q.charge(readCost, { project: '111' }), 'a keyless call charged to the same project is refused too');
    for (let i = 0; i < 5; i++) assert.equal(await q.charge(readCost, carol), null, 'carol is another project');
    await q.close();
  });

  test('per-key units give each key its own budget', async () => {
    const perKey = limit('per-key', 'read-requests', '1/min/{key}', 2);
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [perKey] });
    assert.equal(await q.charge(readCost, alice), null);
    assert.equal(await q.charge(readCost, alice), null);
    const err = await q.charge(readCost, alice);
    assert.equal(err?.status, 429);
    assert.match(err!.message, /limit 'per-key'.*consumer 'project_number:111'\.$/);
    assert.equal(await q.charge(readCost, bob), null, 'bob (same project) has his own budget');
    assert.equal(await q.charge(readCost, bob), null);
    assert.ok(await q.charge(readCost, bob));
    // Without a key a per-key limit counts the project.
    assert.equal(await q.charge(readCost, { project: '111' }), null);
    assert.equal(await q.charge(readCost, { project: '111' }), null);
    assert.ok(await q.charge(readCost, { project: '111' }));
    await q.close();
  });

  test('no costs, zero costs and metrics without a limit charge nothing and share one resolved promise', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', 'm', '1/min/{project}', 1)] });
    const none = q.charge([], alice);
    assert.equal(none, q.charge([], bob), 'fast path returns a constant');
    assert.equal(q.charge([{ metric: 'm', cost: 0 }], alice), none);
    assert.equal(q.charge([{ metric: 'unlimited', cost: 3 }], alice), none);
    assert.equal(await none, null);
    assert.equal(q.stats.checks, 0);
    assert.equal(await q.charge([{ metric: 'm', cost: 1 }], alice), null, 'the single point is still there');
    assert.ok(await q.charge([{ metric: 'm', cost: 1 }], alice));
    const noLimits = createQuotaEnforcer({ serviceName: SERVICE, limits: [] });
    assert.equal(noLimits.charge(readCost, alice), none);
    await q.close();
    await noLimits.close();
  });

  test('costs above 1 consume that many points; a refused call consumes nothing', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', 'm', '1/min/{project}', 10)] });
    assert.equal(await q.charge([{ metric: 'm', cost: 8 }], alice), null);
    assert.equal((await q.charge([{ metric: 'm', cost: 5 }], alice))?.status, 429, '8 + 5 > 10');
    assert.equal(await q.charge([{ metric: 'm', cost: 2 }], alice), null, 'the refused 5 left the 2 remaining points');
    assert.equal((await q.charge([{ metric: 'm', cost: 1 }], alice))?.status, 429);
    await q.close();
  });

  test('when one of several limits refuses, the others are refunded', async () => {
    const perKey = limit('per-key', 'read-requests', '1/min/{key}', 3);
    const perProject = limit('per-project', 'read-requests', '1/min/{project}', 5);
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [perKey, perProject] });
    for (let i = 0; i < 3; i++) assert.equal(await q.charge(readCost, alice), null);
    for (let i = 0; i < 4; i++) {
      const err = await q.charge(readCost, alice);
      assert.match(err?.message ?? '', /limit 'per-key'/, 'alice is stopped by her key limit');
    }
    // Without refunds alice's refused calls would have used up the project.
    assert.equal(await q.charge(readCost, bob), null);
    assert.equal(await q.charge(readCost, bob), null);
    const err = await q.charge(readCost, bob);
    assert.match(err?.message ?? '', /limit 'per-project'/);
    await q.close();
  });

  test('several metrics: a refusal on one refunds the other; Retry-After is the longest wait', async () => {
    const reads = limit('reads-per-second', 'reads', '1/s/{project}', 5);
    const writes = limit('writes-per-hour', 'writes', '1/h/{project}', 1);
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [reads, writes] });
    const both = [{ metric: 'reads', cost: 1 }, { metric: 'writes', cost: 1 }];
    assert.equal(await q.charge(both, alice), null);
    const err = await q.charge(both, alice);
    assert.match(err?.message ?? '', /quota metric 'writes' and limit 'writes-per-hour'/);
    assert.ok(Number(err?.headers?.['Retry-After']) > 3000, 'the hour window decides');
    for (let i = 0; i < 4; i++) assert.equal(await q.charge([{ metric: 'reads', cost: 1 }], alice), null, `read ${i + 2}`);
    assert.ok(await q.charge([{ metric: 'reads', cost: 1 }], alice), 'exactly 5 reads were charged');
    await q.close();
  });

  test('the window resets after windowSeconds, counted from the first call', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('l', 'm', '1/s/{project}', 2)] });
    const cost = [{ metric: 'm', cost: 1 }];
    assert.equal(await q.charge(cost, alice), null);
    assert.equal(await q.charge(cost, alice), null);
    const err = await q.charge(cost, alice);
    assert.equal(err?.headers?.['Retry-After'], '1');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await q.charge(cost, alice), null, 'a new window');
    assert.equal(await q.charge(cost, alice), null);
    assert.ok(await q.charge(cost, alice));
    await q.close();
  });

  test('bad options fail at creation', () => {
    assert.throws(() => createQuotaEnforcer({ serviceName: SERVICE, limits: [], store: 'localhost:6379' }), /quota store/);
    assert.throws(() => createQuotaEnforcer({ serviceName: SERVICE, limits: [{ ...readLimit, limit: 1.5 }] }), /non-negative integer/);
    assert.throws(() => createQuotaEnforcer({ serviceName: SERVICE, limits: [readLimit], storeTimeoutMs: 0 }), /storeTimeoutMs/);
  });

  test('a limit of 0 refuses every charged call', async () => {
    const q = createQuotaEnforcer({ serviceName: SERVICE, limits: [limit('closed', 'm', '1/min/{project}', 0)] });
    assert.equal((await q.charge([{ metric: 'm', cost: 1 }], alice))?.status, 429);
    await q.close();
  });
});
