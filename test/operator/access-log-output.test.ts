// The access log's output as a log collector reads it: whole lines, in the order the requests were
// answered, each valid JSON in UTF-8, whatever a line holds. Lines are encoded into byte batches as they
// are made (src/observability/logger.ts): a character outside ASCII takes more bytes than it has UTF-16
// units, and a line too long for any batch goes out on its own, between the batches before and after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { writeSpecFile } from '../helpers/specs.ts';

let gw: ChildGateway;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-access-log-output-'));
  const specFile = await writeSpecFile(dir, {
    swagger: '2.0',
    info: { title: 'log output', version: '1' },
    host: 'log-output.endpoints.p.cloud.goog',
    'x-google-backend': { address: CLOSED_URL },
    paths: { '/items': { get: { operationId: 'items', security: [], responses: { 200: { description: 'ok' } } } } },
  });
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none']);
});

after(async () => {
  gw?.child.kill('SIGKILL');
  await gw?.exit();
  await rm(dir, { recursive: true, force: true });
});

const urlOf = (l: Record<string, unknown>) => (l.httpRequest as { requestUrl: string }).requestUrl;

test('access-log lines come out whole and in order: non-ASCII text, and a line longer than a batch', async () => {
  // Eleven requests; the sixth has a 14,000-character User-Agent: more than a third of a batch buffer (the
  // most a character might need), so its line cannot share one. Node takes headers up to 16 KiB.
  const paths = Array.from({ length: 11 }, (_, i) => `/r/${i}`);
  // Header bytes above 0x7f reach the gateway as Latin-1 characters (é is one), two bytes each in UTF-8.
  const agents = paths.map((_, i) => `café-${i}` + (i === 5 ? 'z'.repeat(14_000) : ''));
  for (const [i, p] of paths.entries()) {
    const r = await request(`${gw.url}${p}`, { headers: { 'user-agent': agents[i]! } });
    await r.body.dump();
    assert.equal(r.statusCode, 404, p);
  }
  await gw.waitForLog((l) => l.message === 'request' && urlOf(l) === '/r/10');
  const lines = gw.logs.filter((l) => l.message === 'request');
  assert.deepEqual(lines.map(urlOf), paths);
  const logged = lines.map((l) => (l.httpRequest as { userAgent?: string }).userAgent);
  assert.equal(logged[5], agents[5]);
  assert.deepEqual(logged, agents);
});
