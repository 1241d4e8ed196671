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
import { freePort, startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

const REQUESTS = 40_000;
const CONCURRENCY = 20;
const TIME_LIMIT_MS = 90_000;
// A long (but ordinary) path makes each access-log line ~2 KiB, so 40,000 of
// them are ~80 MiB: far past any bound the gateway should keep in memory.
const LONG = 'x'.repeat(1900);

let gw: ChildGateway;
let dir: string;
let specFile: string;
let adminPort: number;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(m, 'VmRSS readable');
  return Number(m[1]) * 1024;
}

/** Sends `count` 404s over a keep-alive pool; stops early at the deadline. Resolves with how many were answered. */
async function flood(url: string, count: number, deadline: number): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let next = 0;
  let answered = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
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
      'x-google-backend': { address: 'http://127.0.0.1:9' },
      paths: { '/items': { get: { operationId: 'items', security: [], responses: { 200: { description: 'ok' } } } } },
    }),
  );
  adminPort = await freePort();
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--admin-port', String(adminPort)]);
});

after(async () => {
  gw.child.stdout!.resume();
  gw.child.kill('SIGKILL');
  await gw.exit();
  await rm(dir, { recursive: true, force: true });
});

test('a stalled stdout bounds the log buffer, keeps serving, and counts the dropped lines', async (t) => {
  const pid = gw.child.pid!;
  // Warm up while stdout is read, so the baseline includes JIT and connection state.
  await flood(gw.url, 2000, Date.now() + 30_000);
  await gw.waitForLog((l) => l.message === 'request' && String((l.httpRequest as { requestUrl: string }).requestUrl).startsWith('/nope/1999/'), 20_000);
  const before = await rssBytes(pid);

  // From here on nobody reads: the pipe fills, then the gateway's own buffer would.
  gw.child.stdout!.pause();
  const logged = gw.logs.length;
  const answered = await flood(gw.url, REQUESTS, Date.now() + TIME_LIMIT_MS);
  assert.ok(answered >= REQUESTS / 2, `only ${answered} requests answered in time`);

  const grown = (await rssBytes(pid)) - before;
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB while stdout was stalled`);

  t.diagnostic(`answered ${answered}; RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);

  // A warning while access lines are being dropped still gets through: access lines go first.
  const failed = await send(gw.url, '/items');
  assert.equal(failed.status, 503);

  const t0 = Date.now();
  const health = await send(gw.url, '/healthz');
  assert.equal(health.status, 200);
  assert.ok(Date.now() - t0 < 1000, `/healthz took ${Date.now() - t0} ms`);

  const metrics = await send(`http://127.0.0.1:${adminPort}`, '/metrics');
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
  const upstream = await gw.waitForLog((l) => l.message === 'upstream error', 10_000);
  assert.equal(upstream.severity, 'WARNING');
  assert.ok(gw.logs.slice(logged).every((l) => typeof l.severity === 'string'), 'every line kept is whole JSON');
});

test('SIGTERM with a stalled stdout still exits, within the grace period and a bounded log flush', async () => {
  const stalled = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--shutdown-grace', '1s']);
  try {
    stalled.child.stdout!.pause();
    // Enough to fill the pipe and leave lines held in the gateway.
    await flood(stalled.url, 5000, Date.now() + 30_000);
    const t0 = Date.now();
    stalled.child.kill('SIGTERM');
    const code = await Promise.race([stalled.exit(), new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
    assert.equal(code, 0, `exit after SIGTERM: ${code} (${Date.now() - t0} ms)`);
  } finally {
    stalled.child.stdout!.resume();
    stalled.child.kill('SIGKILL');
  }
});
