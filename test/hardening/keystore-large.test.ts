// A large embedded key store against the real gateway process, run with the
// heap the CLI ships with (its shebang's V8 limits): 100,000 keys serve, a
// `keys create` beside them reloads the store without pausing serving, and a
// file over the size limit is refused with the old keys kept.
// Pauses are measured inside the gateway: its reload log line gives the
// longest CPU stretch the serving thread ran without turning its event loop
// during the reload (what the gateway itself holds requests up with, whatever
// else the machine runs: the bound asserted), and its event-loop delay
// (wall clock, which on a loaded machine also counts time given to other
// processes; printed, with nodejs_eventloop_lag_max_seconds from /metrics).
// KEYSTORE_TEST_KEYS changes the number of keys (for before/after figures).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { send } from '../helpers/http.ts';

const SERVICE = 'large.endpoints.test-project.cloud.goog';
const COUNT = Number(process.env.KEYSTORE_TEST_KEYS ?? 100_000);
/** The CLI's shebang limits (src/cli.ts): the heap every gateway and keys command runs with. */
const SHIPPED_HEAP = { NODE_OPTIONS: '--max-semi-space-size=8 --max-old-space-size=128' };
const MAX_PAUSE_MS = 50;
const MiB = 2 ** 20;

const keyOf = (i: number) => `AIzaSyLargeStore-${String(i).padStart(8, '0')}-000000000000`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The store as `keys create` writes it, 100,000 times over (written directly: faster than 100,000 commands). */
function storeText(n: number): string {
  const parts = ['keys:\n'];
  for (let i = 0; i < n; i++) {
    const h = sha256(keyOf(i));
    parts.push(`  - sha256: ${h}\n    project: "${100_000 + (i % 1000)}"\n    name: key-${h.slice(0, 12)}\n    createTime: 2026-12-01T00:00:00Z\n`);
  }
  return parts.join('');
}

let backend: TestBackend;
let dir: string;
let store: string;
let gw: ChildGateway;
let adminUrl: string;

/** The gateway's own Prometheus figures (one scrape also restarts its event-loop delay window). */
async function metrics(): Promise<Map<string, number>> {
  const r = await send(adminUrl, '/metrics');
  assert.equal(r.status, 200);
  const out = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const status = async (key: string) => (await send(gw.url, `/hello?key=${key}`)).status;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-keystore-large-'));
  store = path.join(dir, 'keys.yaml');
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'large store', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      paths: { '/hello': { get: { operationId: 'hello', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  await writeFile(store, storeText(COUNT), { mode: 0o600 });
  gw = await startChildGateway(['--spec', spec, '--backend-auth', 'none', '--keys', `file:${store}`, '--admin-port', '0'], {
    ...SHIPPED_HEAP,
    // Large enough for the store and one more key; the last test grows the file past it.
    ENDPOINTS_KEYS_MAX_SIZE: String((await readFile(store)).length + 4096),
  });
  const listening = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
  adminUrl = `http://127.0.0.1:${String(listening.adminPort)}`;
});

after(async () => {
  if (gw) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe(`an embedded store of ${COUNT} keys, on the shipped heap`, () => {
  test('serves; `keys create` reloads it off the serving thread: serving never pauses 50 ms, memory stays bounded', { timeout: 180_000 }, async () => {
    assert.equal(await status(keyOf(0)), 200);
    assert.equal(await status(keyOf(COUNT - 1)), 200);
    assert.equal(await status('AIzaSyLargeStore-unknown-000000000000000'), 400);

    await metrics(); // restarts the delay window: what follows is the reload's
    const reloads = gw.logs.filter((l) => l.message === 'key store reloaded').length;
    const started = performance.now();
    const r = await runCli(['keys', 'create', '--store', store, '--project', '4242', '--name', 'one-more'], { env: SHIPPED_HEAP, timeoutMs: 120_000 });
    const createMs = performance.now() - started;
    assert.equal(r.code, 0, `keys create failed: ${r.stderr}`);
    const key = r.stdout.trim();
    assert.match(key, /^AIza[A-Za-z0-9_-]{35}$/);
    const line = await gw.waitForLog((l) => l.message === 'key store reloaded' && gw.logs.filter((x) => x.message === 'key store reloaded').length > reloads, 120_000);
    const reloadMs = performance.now() - started;
    assert.equal(line.keys, COUNT + 1);
    const m = await metrics();

    assert.equal(await status(key), 200, 'the new key is accepted');
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], '4242');
    assert.equal(await status(keyOf(1)), 200, 'and the others still are');
    assert.equal((await send(gw.url, '/healthz')).status, 200);

    const busyMs = line.event_loop_max_busy_ms as number;
    const lagMs = (m.get('nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000;
    const rssMiB = (m.get('process_resident_memory_bytes') ?? NaN) / MiB;
    const heapMiB = (m.get('nodejs_heap_size_used_bytes') ?? NaN) / MiB;
    process.stdout.write(
      `# keystore ${COUNT} keys: keys create ${createMs.toFixed(0)} ms, create+reload ${reloadMs.toFixed(0)} ms, reload ${String(line.ms)} ms; ` +
        `serving thread's longest busy stretch ${String(busyMs)} ms, longest event-loop delay ${String(line.event_loop_max_delay_ms)} ms ` +
        `(/metrics: ${lagMs.toFixed(1)} ms); after: RSS ${rssMiB.toFixed(0)} MiB, heap used ${heapMiB.toFixed(0)} MiB\n`,
    );
    assert.equal(typeof busyMs, 'number', 'the reload line reports the serving thread\'s longest busy stretch');
    assert.ok(busyMs < MAX_PAUSE_MS, `the serving thread ran ${busyMs} ms without serving during the reload (at most ${MAX_PAUSE_MS})`);
    assert.ok(heapMiB < 64, `heap used after the reload: ${heapMiB.toFixed(0)} MiB`);
  });

  test('a file over the size limit is refused and logged; the old keys serve on', { timeout: 60_000 }, async () => {
    const grown = path.join(dir, 'grown.yaml');
    await writeFile(grown, await readFile(store));
    await appendFile(grown, `# padding\n${'#'.repeat(8191)}\n`);
    await rename(grown, store); // as deploy tools publish a file
    const line = await gw.waitForLog((l) => l.message === 'key store file is too large; keeping the last good keys', 30_000);
    assert.equal(typeof line.bytes, 'number');
    assert.equal(typeof line.limit, 'number');
    assert.ok((line.bytes as number) > (line.limit as number));
    assert.equal(await status(keyOf(2)), 200);
    assert.equal((await send(gw.url, '/healthz')).status, 200);
    assert.equal(gw.child.exitCode, null, 'the gateway is still running');
  });
});
