// The default --downstream-max-connections, derived from the process's open-files limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDownstreamMaxConnections, openFilesLimit, tunnelLimit } from '../../src/http/downstream-limit.ts';

const limits = (soft: string, hard: string) =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63704                63704                processes \nMax open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     \n`;

test('the soft open-files limit is read from /proc/self/limits; unlimited or missing gives none', () => {
  assert.equal(openFilesLimit(limits('1024', '1048576')), 1024);
  assert.equal(openFilesLimit(limits('unlimited', 'unlimited')), undefined);
  assert.equal(openFilesLimit('garbage'), undefined);
  // This machine's own file is readable and sane.
  const own = openFilesLimit();
  assert.ok(own === undefined || own > 0);
});

test('half of what the 64-descriptor reserve leaves (a client and its backend connection); 0 means no bound', () => {
  assert.equal(defaultDownstreamMaxConnections(1024), 480);
  assert.equal(defaultDownstreamMaxConnections(160), 48);
  assert.equal(defaultDownstreamMaxConnections(10), 1);
  assert.equal(defaultDownstreamMaxConnections(undefined), 0);
});

test('WebSockets get all but a tenth of the connections, at least one kept for plain requests', () => {
  assert.equal(tunnelLimit(0), 0);
  assert.equal(tunnelLimit(3), 2);
  assert.equal(tunnelLimit(48), 43);
  assert.equal(tunnelLimit(480), 432);
  assert.equal(tunnelLimit(1), 1);
});
