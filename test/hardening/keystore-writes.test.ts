// Concurrent `keys` commands on one embedded store, as real CLI processes: every
// command that exits 0 took effect (no lost update), a command that cannot get
// the store's lock says so and exits non-zero, and a write keeps the file's
// mode and its symlink. The running gateway (its own process) is the judge of
// which keys work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lock } from 'proper-lockfile';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const SERVICE = 'keystore.endpoints.test-project.cloud.goog';
const INVALID = { code: 400, message: 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node src/cli.ts keys ...` in its own process; resolves with its exit code and output. */
function keys(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'keys', ...args], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function created(r: Run): Promise<string> {
  assert.equal(r.code, 0, `keys create failed: ${r.stderr}`);
  const key = r.stdout.trim();
  assert.match(key, /^AIza[A-Za-z0-9_-]{35}$/);
  return key;
}

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

async function names(store: string): Promise<string[]> {
  const r = await keys('list', '--store', store, '--json');
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { name: string }[]).map((k) => k.name).sort();
}

// Only a failing check waits the whole time: sized for a starved machine.
async function eventually(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not reached in ${ms} ms: ${what}`);
}

let backend: TestBackend;
let dir: string;
let store: string;
let gw: ChildGateway;

const status = async (key: string) => (await send(gw.url, `/hello?key=${key}`)).status;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-keystore-'));
  store = path.join(dir, 'keys.yaml');
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      swagger: '2.0',
      info: { title: 'keystore', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      paths: { '/hello': { get: { operationId: 'hello', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  await created(await keys('create', '--store', store, '--project', '1', '--name', 'seed'));
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${store}`]);
});

after(async () => {
  if (gw) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('concurrent keys commands on one store', () => {
  test('ten concurrent creates: all exit 0 and every printed key is in the store and accepted', async () => {
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => keys('create', '--store', store, '--project', `10${i}`, '--name', `burst-${i}`)),
    );
    const printed = await Promise.all(runs.map(created));
    assert.deepEqual(await names(store), ['seed', ...Array.from({ length: 10 }, (_, i) => `burst-${i}`)].sort());
    const text = await readFile(store, 'utf8');
    for (const key of printed) {
      assert.ok(text.includes(sha256(key)), 'the printed key is stored (by hash)');
      assert.ok(!text.includes(key), 'never the key itself');
    }
    for (const [i, key] of printed.entries()) {
      await eventually(async () => (await status(key)) === 200, `burst-${i} accepted by the gateway`);
      assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], `10${i}`);
    }
  });

  // 72 CLI processes: give a loaded machine room.
  test('a revoke racing eight creates always holds (8 trials)', { timeout: 300_000 }, async () => {
    const victims: string[] = [];
    const survivors: string[] = [];
    for (let trial = 0; trial < 8; trial++) {
      const victim = await created(await keys('create', '--store', store, '--project', '7', '--name', `victim-${trial}`));
      victims.push(victim);
      const creates = Array.from({ length: 8 }, (_, i) =>
        keys('create', '--store', store, '--project', '8', '--name', `race-${trial}-${i}`),
      );
      const revoke = keys('revoke', '--store', store, `victim-${trial}`);
      const [r, ...rest] = await Promise.all([revoke, ...creates]);
      assert.equal(r!.code, 0, `revoke failed: ${r!.stderr}`);
      for (const c of rest) survivors.push(await created(c));
      const now = await names(store);
      assert.ok(!now.includes(`victim-${trial}`), `trial ${trial}: the revoked key came back`);
      for (let i = 0; i < 8; i++) assert.ok(now.includes(`race-${trial}-${i}`), `trial ${trial}: race-${trial}-${i} lost`);
    }
    for (const key of survivors) await eventually(async () => (await status(key)) === 200, 'racing create accepted');
    for (const key of victims) {
      await eventually(async () => (await status(key)) === 400, 'revoked key refused');
      assert.deepEqual((await send(gw.url, `/hello?key=${key}`)).json(), INVALID);
    }
  });

  test('a command that cannot get the lock exits non-zero, says why, and changes nothing', async () => {
    const before = await readFile(store, 'utf8');
    // Another writer holding the lock (and keeping it fresh) for longer than a command waits.
    const release = await lock(store, { lockfilePath: `${store}.lock`, realpath: false, stale: 5000 });
    let r: Run;
    const started = Date.now();
    try {
      r = await keys('create', '--store', store, '--project', '9', '--name', 'blocked');
    } finally {
      await release();
    }
    const waited = Date.now() - started;
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '', 'no key printed');
    assert.match(r.stderr, /another keys command held its lock .*nothing was changed/);
    assert.ok(waited >= 5000, `waited for the lock (${waited} ms)`);
    assert.equal(await readFile(store, 'utf8'), before);
    await created(await keys('create', '--store', store, '--project', '9', '--name', 'unblocked')); // once released
  });

  test('a lock left by a crashed command is taken over', async () => {
    await mkdir(`${store}.lock`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${store}.lock`, old, old);
    const key = await created(await keys('create', '--store', store, '--project', '5', '--name', 'after-crash'));
    assert.ok((await readFile(store, 'utf8')).includes(sha256(key)));
    await assert.rejects(stat(`${store}.lock`), { code: 'ENOENT' }, 'the lock is released');
  });

  test('a write keeps the file mode and writes through a symlink', async () => {
    const real = path.join(dir, 'real');
    await mkdir(real);
    const target = path.join(real, 'keys.yaml');
    await created(await keys('create', '--store', target, '--project', '1', '--name', 'one'));
    await chmod(target, 0o640);
    const link = path.join(dir, 'linked-keys.yaml');
    await symlink(target, link);
    await created(await keys('create', '--store', link, '--project', '2', '--name', 'two'));
    assert.ok((await lstat(link)).isSymbolicLink(), 'the symlink is still a symlink');
    assert.deepEqual(await names(target), ['one', 'two']);
    assert.equal((await stat(target)).mode & 0o777, 0o640);
    assert.equal((await keys('revoke', '--store', link, 'one')).code, 0);
    assert.deepEqual(await names(target), ['two']);
    assert.equal((await stat(target)).mode & 0o777, 0o640);
  });
});
