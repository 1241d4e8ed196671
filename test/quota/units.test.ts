import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuotaUnit } from '../../src/quota/units.ts';
import { parseQuotaStore } from '../../src/quota/store.ts';

describe('parseQuotaUnit', () => {
  test("ESP's 1/min/{project}", () => {
    assert.deepEqual(parseQuotaUnit('1/min/{project}'), { window: 'minute', windowSeconds: 60, per: 'project' });
  });

  test('extension windows and per-key forms', () => {
    assert.deepEqual(parseQuotaUnit('1/s/{project}'), { window: 'second', windowSeconds: 1, per: 'project' });
    assert.deepEqual(parseQuotaUnit('1/h/{project}'), { window: 'hour', windowSeconds: 3600, per: 'project' });
    assert.deepEqual(parseQuotaUnit('1/d/{project}'), { window: 'day', windowSeconds: 86400, per: 'project' });
    assert.deepEqual(parseQuotaUnit('1/min/{key}'), { window: 'minute', windowSeconds: 60, per: 'key' });
    assert.deepEqual(parseQuotaUnit('1/d/{key}'), { window: 'day', windowSeconds: 86400, per: 'key' });
  });

  for (const bad of ['', '1/min', '2/min/{project}', '1/minute/{project}', '1/min/{user}', '1/min/{project}/x', '1/toString/{project}', '1/min/constructor', ' 1/min/{project}']) {
    test(`rejects ${JSON.stringify(bad)} with an explanation`, () => {
      const r = parseQuotaUnit(bad);
      assert.ok('error' in r, `expected an error for ${bad}`);
      assert.match(r.error, /unsupported quota unit/);
      assert.match(r.error, /1\/min\/\{project\}/);
    });
  }
});

describe('parseQuotaUnit, per person (x-endpoints-quota)', () => {
  test('{user} and {claim.NAME} in every window', () => {
    assert.deepEqual(parseQuotaUnit('1/min/{user}', true), { window: 'minute', windowSeconds: 60, per: 'user' });
    assert.deepEqual(parseQuotaUnit('1/d/{claim.tenant_id}', true), { window: 'day', windowSeconds: 86400, per: 'claim', claim: 'tenant_id' });
    assert.ok('error' in parseQuotaUnit('1/h/{claim.https://x/org}', true), 'a slash would make the unit ambiguous');
    assert.deepEqual(parseQuotaUnit('1/min/{project}', true), { window: 'minute', windowSeconds: 60, per: 'project' });
  });

  test("Google's block refuses them and says where they belong", () => {
    for (const unit of ['1/min/{user}', '1/min/{claim.tenant}']) {
      const r = parseQuotaUnit(unit);
      assert.ok('error' in r);
      assert.match(r.error, /x-endpoints-quota/);
    }
  });

  for (const bad of ['1/min/{claim.}', '1/min/{claim}', '1/min/{users}', '1/min/{claim.a b}', '2/min/{user}']) {
    test(`rejects ${JSON.stringify(bad)} with an explanation`, () => {
      const r = parseQuotaUnit(bad, true);
      assert.ok('error' in r, `expected an error for ${bad}`);
      assert.match(r.error, /\{user\}/);
    });
  }
});

describe('parseQuotaStore', () => {
  test('memory by default', () => {
    assert.deepEqual(parseQuotaStore(undefined), { kind: 'memory' });
    assert.deepEqual(parseQuotaStore(''), { kind: 'memory' });
  });

  test('redis URLs keep credentials out of the display form', () => {
    assert.deepEqual(parseQuotaStore('redis://:s3cret@10.0.0.5:6380/2'), {
      kind: 'redis',
      connect: 'redis://:s3cret@10.0.0.5:6380/2',
      display: 'redis://10.0.0.5:6380',
    });
    const tls = parseQuotaStore('rediss://user:pw@cache.internal:6379');
    assert.ok('kind' in tls && tls.kind === 'redis');
    assert.equal(tls.display, 'rediss://cache.internal:6379');
  });

  test('unix sockets, with or without the scheme', () => {
    assert.deepEqual(parseQuotaStore('unix:///run/redis.sock'), { kind: 'redis', connect: '/run/redis.sock', display: 'unix:///run/redis.sock' });
    assert.deepEqual(parseQuotaStore('/run/redis.sock'), { kind: 'redis', connect: '/run/redis.sock', display: 'unix:///run/redis.sock' });
  });

  test('rejects anything else', () => {
    for (const bad of ['localhost:6379', 'http://h:1', 'unix://relative.sock', 'redis://']) {
      assert.ok('error' in parseQuotaStore(bad), bad);
    }
  });
});
