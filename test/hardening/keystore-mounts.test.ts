// The embedded store mounted the way Kubernetes mounts a Secret or ConfigMap,
// against the real gateway process: the kubelet never touches `keys.yaml`
// itself (it is a symlink to `..data/keys.yaml`); an update writes a new
// timestamped folder, points a `..data_tmp` symlink at it, renames that over
// `..data` and deletes the old folder. A revoked key must stop working within
// seconds, an invalid update must leave the old keys serving (and be logged),
// and changes no folder event reveals are caught by the periodic check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const SERVICE = 'mounts.endpoints.test-project.cloud.goog';
const INVALID = { code: 400, message: 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.' };
const INVALID_LOG = 'key store file is invalid; keeping the last good keys';

/** `node src/cli.ts keys ...`: what it prints on stdout; rejects unless it exits 0. */
function keys(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'keys', ...args], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`keys ${args[0]} exited ${code}: ${err}`))));
  });
}

const createKey = (store: string, name: string, project: string) =>
  keys('create', '--store', store, '--project', project, '--name', name);

// Only a failing check waits the whole time: sized for a starved machine.
async function eventually(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not reached in ${ms} ms: ${what}`);
}

/** A folder laid out and updated as the kubelet's AtomicWriter does for a Secret volume. */
class KubeletMount {
  readonly dir: string;
  private current: string | null = null;
  private seq = 0;
  constructor(dir: string) {
    this.dir = dir;
  }

  get file(): string {
    return path.join(this.dir, 'keys.yaml');
  }

  /** Publishes `content` as the mount's keys.yaml. */
  async publish(content: string): Promise<void> {
    const stamp = `..2026_12_01_21_00_${String(this.seq).padStart(2, '0')}.${String(123456789 + this.seq++)}`;
    await mkdir(path.join(this.dir, stamp));
    await writeFile(path.join(this.dir, stamp, 'keys.yaml'), content, { mode: 0o644 });
    if (this.current === null) {
      await symlink(stamp, path.join(this.dir, '..data'));
      await symlink('..data/keys.yaml', this.file);
    } else {
      await symlink(stamp, path.join(this.dir, '..data_tmp'));
      await rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
      await rm(path.join(this.dir, this.current), { recursive: true });
    }
    this.current = stamp;
  }
}

let backend: TestBackend;
let root: string;
let specFile: string;
const gateways: ChildGateway[] = [];

async function gateway(store: string, pollInterval: string): Promise<ChildGateway> {
  const gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${store}`], {
    ENDPOINTS_KEYS_POLL_INTERVAL: pollInterval,
  });
  gateways.push(gw);
  return gw;
}

const status = async (gw: ChildGateway, key: string) => (await send(gw.url, `/hello?key=${key}`)).status;

before(async () => {
  backend = await startTestBackend();
  root = await mkdtemp(path.join(tmpdir(), 'egw-mounts-'));
  specFile = path.join(root, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      swagger: '2.0',
      info: { title: 'mounts', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      paths: { '/hello': { get: { operationId: 'hello', responses: { 200: { description: 'ok' } } } } },
    }),
  );
});

after(async () => {
  for (const gw of gateways) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await rm(root, { recursive: true, force: true });
});

describe('key store on a Kubernetes Secret mount', () => {
  test('a revoke published by a ..data symlink swap stops the key within seconds; an invalid update keeps the old keys', async () => {
    // The Secret's source, kept outside the mount (as `kubectl create secret --from-file` would read it).
    const source = path.join(root, 'secret-source.yaml');
    const alice = await createKey(source, 'alice', '111');
    const bob = await createKey(source, 'bob', '222');
    const mount = new KubeletMount(path.join(root, 'secret'));
    await mkdir(mount.dir);
    await mount.publish(await readFile(source, 'utf8'));
    // Periodic check off: the folder's events alone must be enough.
    const gw = await gateway(mount.file, '0');
    assert.equal(await status(gw, alice), 200);
    assert.equal(await status(gw, bob), 200);

    await keys('revoke', '--store', source, 'bob');
    await mount.publish(await readFile(source, 'utf8'));
    await eventually(async () => (await status(gw, bob)) === 400, 'revoked key refused');
    assert.deepEqual((await send(gw.url, `/hello?key=${bob}`)).json(), INVALID);
    assert.equal(await status(gw, alice), 200);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], '111');

    // A broken version is refused and logged; alice keeps working.
    await mount.publish('keys: [ this is : not valid');
    await gw.waitForLog((l) => l.message === INVALID_LOG);
    assert.equal(await status(gw, alice), 200);

    // And the next good version is picked up.
    const carol = await createKey(source, 'carol', '333');
    await mount.publish(await readFile(source, 'utf8'));
    await eventually(async () => (await status(gw, carol)) === 200, 'new key accepted');
    for (const key of [alice, bob, carol]) assert.ok(!JSON.stringify(gw.logs).includes(key), 'keys never logged');
  });

  test('an in-place edit of a plain store file is still picked up', async () => {
    const dir = path.join(root, 'plain');
    await mkdir(dir);
    const store = path.join(dir, 'keys.yaml');
    const dave = await createKey(store, 'dave', '444');
    const gw = await gateway(store, '0');
    assert.equal(await status(gw, dave), 200);
    await writeFile(store, 'keys: []\n'); // same inode, truncated and rewritten
    await eventually(async () => (await status(gw, dave)) === 400, 'key removed in place refused');
  });

  test('the periodic check catches a change no folder event reports, and logs a bad version once', async () => {
    // The configured path is a symlink into another folder: editing the target
    // there makes no event in the folder the store watches.
    const real = path.join(root, 'elsewhere');
    const linked = path.join(root, 'linked');
    await mkdir(real);
    await mkdir(linked);
    const target = path.join(real, 'keys.yaml');
    const erin = await createKey(target, 'erin', '555');
    const good = await readFile(target, 'utf8');
    await symlink(target, path.join(linked, 'keys.yaml'));
    const gw = await gateway(path.join(linked, 'keys.yaml'), '300ms');
    assert.equal(await status(gw, erin), 200);

    // Each version replaces the target atomically (in its own folder), so a check never sees half a write.
    const replace = async (text: string) => {
      await writeFile(`${target}.new`, text);
      await rename(`${target}.new`, target);
    };
    await replace('keys: [ broken');
    await gw.waitForLog((l) => l.message === INVALID_LOG);
    await new Promise((r) => setTimeout(r, 1500)); // several more checks of the same bad content
    assert.equal(gw.logs.filter((l) => l.message === INVALID_LOG).length, 1, 'one log line per bad version');
    assert.equal(await status(gw, erin), 200);

    await replace(good.replace(/sha256: [0-9a-f]{64}/, `sha256: ${'ab'.repeat(32)}`));
    await eventually(async () => (await status(gw, erin)) === 400, `edited-out key refused; logs: ${JSON.stringify(gw.logs.filter((l) => String(l.message).includes('key')))}`);
  });
});
