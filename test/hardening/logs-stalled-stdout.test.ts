// Nobody reads the gateway's stdout (a stuck log collector, a full pipe): the
// access log must not buffer without bound. The gateway keeps serving, its memory
// stays flat, the lines it had to drop are counted, and it says so once the
// output drains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { Pool } from 'undici';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { busyMaxSeconds } from '../helpers/busy.ts';

const REQUESTS = 40_000;
const CONCURRENCY = 20;
// A long (but ordinary) path makes each access-log line ~2 KiB, so 40,000 of
// them are ~80 MiB: far past any bound the gateway should keep in memory.
const LONG = 'x'.repeat(1900);

let gw: ChildGateway;
let dir: string;
let specFile: string;
let admin: string;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(m, 'VmRSS readable');
  return Number(m[1]) * 1024;
}

/**
 * Sends `count` requests for unknown paths over a keep-alive pool; resolves with how many
 * were answered 404. All of them, however long a loaded machine takes: a deadline here
 * would make the amount of log output (what the test is about) depend on the machine.
 */
async function flood(url: string, count: number): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let next = 0;
  let answered = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await pool.request({ method: 'GET', path: `/nope/${i}/${LONG}` });
      await r.body.dump();
      if (r.statusCode === 404) answered++;
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    await pool.close();
  }
  return answered;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-logs-stall-'));
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      swagger: '2.0',
      info: { title: 'stall', version: '1' },
      host: 'stall.endpoints.p.cloud.goog',
      'x-google-backend': { address: CLOSED_URL },
      paths: { '/items': { get: { operationId: 'items', security: [], responses: { 200: { description: 'ok' } } } } },
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--admin-port', '0']);
  admin = gw.adminUrl!;
});

after(async () => {
  gw?.child.stdout!.resume();
  gw?.child.kill('SIGKILL');
  await gw?.exit();
  await rm(dir, { recursive: true, force: true });
});

// 42,000 requests: minutes on a loaded 2-core machine, and bounded by the work, not a clock.
test('a stalled stdout bounds the log buffer, keeps serving, and counts the dropped lines', { timeout: 900_000 }, async (t) => {
  const pid = gw.child.pid!;
  // Warm up while stdout is read, so the baseline includes JIT and connection state.
  assert.equal(await flood(gw.url, 2000), 2000);
  await gw.waitForLog((l) => l.message === 'request' && String((l.httpRequest as { requestUrl: string }).requestUrl).startsWith('/nope/1999/'));
  const before = await rssBytes(pid);

  // From here on nobody reads: the pipe fills, then the gateway's own buffer would.
  gw.child.stdout!.pause();
  const logged = gw.logs.length;
  await busyMaxSeconds(admin); // starts the measurement
  const answered = await flood(gw.url, REQUESTS);
  assert.equal(answered, REQUESTS, 'every request answered while stdout was stalled');
  // Serving never waited on the stalled output: the gateway's own measure of its longest
  // stretch of work (CPU time), which a loaded machine does not stretch as it does a client's wait.
  const busy = await busyMaxSeconds(admin);

  const grown = (await rssBytes(pid)) - before;
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB while stdout was stalled`);

  t.diagnostic(`answered ${answered}; RSS grew by ${(grown / 1048576).toFixed(1)} MiB; longest stall ${(busy * 1000).toFixed(0)} ms of CPU`);
  assert.ok(busy < 0.5, `the serving thread worked ${(busy * 1000).toFixed(0)} ms in one stretch while stdout was stalled`);

  // A warning while access lines are being dropped still gets through: access lines go first.
  const failed = await send(gw.url, '/items');
  assert.equal(failed.status, 503);

  const health = await send(gw.url, '/healthz');
  assert.equal(health.status, 200);

  const metrics = await send(admin, '/metrics');
  const m = /^endpoints_gateway_log_lines_dropped_total (\d+)$/m.exec(metrics.body);
  assert.ok(m, 'the dropped-lines counter is exposed');
  assert.ok(Number(m[1]) > 0, 'lines were dropped');
  t.diagnostic(`dropped ${m[1]} lines`);

  // Reading again: what was kept comes out, with the warning and the count.
  gw.child.stdout!.resume();
  const warning = await gw.waitForLog((l) => l.severity === 'WARNING' && /dropp/i.test(String(l.message)), 30_000);
  assert.ok(gw.logs.length > logged, 'buffered lines were written once stdout drained');
  const recovered = await gw.waitForLog((l) => typeof l.droppedLines === 'number' && l.droppedLines > 0, 30_000);
  assert.ok(warning && recovered);
  const upstream = await gw.waitForLog((l) => l.message === 'upstream error');
  assert.equal(upstream.severity, 'WARNING');
  assert.ok(gw.logs.slice(logged).every((l) => typeof l.severity === 'string'), 'every line kept is whole JSON');
});

test('SIGTERM with a stalled stdout still exits, within the grace period and a bounded log flush', async () => {
  const stalled = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--shutdown-grace', '1s']);
  try {
    stalled.child.stdout!.pause();
    // Enough to fill the pipe and leave lines held in the gateway.
    assert.equal(await flood(stalled.url, 5000), 5000);
    const t0 = Date.now();
    stalled.child.kill('SIGTERM');
    // 1 s of grace and at most 5 s of flushing; an unbounded flush would never end. The
    // rest is room for a loaded machine.
    const code = await Promise.race([stalled.exit(), new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    assert.equal(code, 0, `exit after SIGTERM: ${code} (${Date.now() - t0} ms)`);
  } finally {
    stalled.child.stdout!.resume();
    stalled.child.kill('SIGKILL');
  }
});
