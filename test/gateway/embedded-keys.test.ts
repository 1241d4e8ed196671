// The embedded key store end to end: keys made with the CLI, hashes only at
// rest, picked up and revoked while the gateway runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

const run = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const SERVICE = 'embedded.endpoints.test-project.cloud.goog';

let backend: TestBackend;
let gw: TestGateway;
let store: string;

async function cli(...args: string[]) {
  return run(process.execPath, [CLI, 'keys', ...args], { env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
}

// Only a failing check waits the whole time: sized for a starved machine.
async function eventually(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not met in time');
}

before(async () => {
  backend = await startTestBackend();
  const spec = baseSpec({
    host: SERVICE,
    'x-google-backend': { address: backend.url },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    paths: { '/hello': { get: op('hello') } },
  });
  // The store must exist before the gateway starts; create the first key with the CLI.
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  store = path.join(await mkdtemp(path.join(tmpdir(), 'egw-keys-')), 'keys.yaml');
  await cli('create', '--store', store, '--project', '111111111111', '--name', 'first', '--service', SERVICE);
  gw = await startTestGateway({ spec, keys: `file:${store}` });
});

after(async () => {
  await gw?.close();
  await backend?.close();
});

describe('embedded key store', () => {
  test('keys create prints the key once (Google format) and stores only its SHA-256', async () => {
    const { stdout, stderr } = await cli('create', '--store', store, '--project', '222222222222', '--name', 'second', '--service', SERVICE);
    const key = stdout.trim();
    assert.match(key, /^AIza[A-Za-z0-9_-]{35}$/);
    assert.doesNotMatch(stderr, new RegExp(key));
    const text = await readFile(store, 'utf8');
    assert.ok(!text.includes(key), 'the file never holds the key');
    const { createHash } = await import('node:crypto');
    assert.ok(text.includes(createHash('sha256').update(key).digest('hex')));
    const { stdout: listed } = await cli('list', '--store', store);
    assert.match(listed, /second\tproject=222222222222\tfingerprint=[0-9a-f]{12}/);
    assert.ok(!listed.includes(key));

    // Reloaded on change: the running gateway accepts the new key.
    await eventually(async () => (await send(gw.url, `/hello?key=${key}`)).status === 200);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], '222222222222');

    // Revoked: refused 400 without restarting.
    await cli('revoke', '--store', store, 'second');
    await eventually(async () => (await send(gw.url, `/hello?key=${key}`)).status === 400);
  });

  test('a key restricted to another service is refused 403', async () => {
    const { stdout } = await cli('create', '--store', store, '--project', '3', '--name', 'elsewhere', '--service', 'other.example.com');
    const key = stdout.trim();
    await eventually(async () => (await send(gw.url, `/hello?key=${key}`)).status === 403);
  });

  test('a broken store file keeps the last good keys and logs why', async () => {
    const { stdout } = await cli('create', '--store', store, '--project', '4', '--name', 'survivor', '--service', SERVICE);
    const key = stdout.trim();
    await eventually(async () => (await send(gw.url, `/hello?key=${key}`)).status === 200);
    const { writeFile } = await import('node:fs/promises');
    const good = await readFile(store, 'utf8');
    await writeFile(store, 'keys: [ this is : not valid');
    await eventually(async () => gw.logs.some((l) => l.message === 'key store file is invalid; keeping the last good keys'));
    assert.equal((await send(gw.url, `/hello?key=${key}`)).status, 200);
    await writeFile(store, good);
  });
});
