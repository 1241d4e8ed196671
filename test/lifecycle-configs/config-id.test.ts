// Config identity: the id is <info.version>-<12 hex of the bytes' SHA-256>, the same in every
// process, and shows in the start and reload log lines, GET /configz and the config_info metric.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { configInfoLines, configz, expectedId, replace, versionSpec } from './support.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
let backend: TestBackend;
let dir: string;
before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-configid-'));
});
after(async () => {
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

const args = (spec: string) => ['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--admin-port', '0'];
const stop = async (gw: ChildGateway) => {
  gw.child.kill('SIGTERM');
  await gw.exit();
};

test('the same bytes get the same config id in two processes; other bytes another', async () => {
  const file = path.join(dir, 'same.yaml');
  const text = versionSpec('2.4.1', backend.url, ['a']);
  await writeFile(file, text);
  const [one, two] = await Promise.all([startChildGateway(args(file)), startChildGateway(args(file))]);
  try {
    const id = expectedId('2.4.1', text);
    for (const gw of [one, two]) {
      const line = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
      assert.equal(line.config_id, id);
      assert.equal((await configz(gw)).config_id, id);
    }
    assert.notEqual(one.child.pid, two.child.pid);
  } finally {
    await Promise.all([stop(one), stop(two)]);
  }
  // One byte more (a comment) is another config, with the same version.
  const other = `${text}# touched\n`;
  await writeFile(file, other);
  const three = await startChildGateway(args(file));
  try {
    assert.equal((await configz(three)).config_id, expectedId('2.4.1', other));
    assert.notEqual(expectedId('2.4.1', other), expectedId('2.4.1', text));
  } finally {
    await stop(three);
  }
});

test('start, good reload, refused reload: log lines, /configz and the config_info metric', async () => {
  const file = path.join(dir, 'endpoint.yaml');
  const v1 = versionSpec('1.0.0', backend.url, ['a']);
  await writeFile(file, v1);
  const id1 = expectedId('1.0.0', v1);
  const gw = await startChildGateway(args(file));
  try {
    // After start.
    const start = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
    assert.equal(start.config_id, id1);
    assert.equal(start.spec, file);
    assert.equal(start.operations, 1);
    let z = await configz(gw);
    assert.equal(z.config_id, id1);
    assert.equal(z.version, '1.0.0');
    assert.equal(z.spec, file);
    assert.equal(z.operations, 1);
    assert.equal(z.previous_config_id, null);
    assert.equal(z.last_refused_reload, null);
    assert.ok(!Number.isNaN(Date.parse(String(z.loaded_at))));
    assert.deepEqual(await configInfoLines(gw), [`endpoints_gateway_config_info{config_id="${id1}",version="1.0.0"} 1`]);

    // A good reload.
    const v2 = versionSpec('1.1.0', backend.url, ['a', 'b']);
    const id2 = expectedId('1.1.0', v2);
    await replace(file, v2);
    gw.child.kill('SIGHUP');
    const reloaded = await gw.waitForLog((l) => l.message === 'spec reloaded');
    assert.equal(reloaded.config_id, id2);
    assert.equal(reloaded.previous_config_id, id1);
    assert.equal(reloaded.spec, file);
    assert.equal(reloaded.operations, 2);
    z = await configz(gw);
    assert.equal(z.config_id, id2);
    assert.equal(z.version, '1.1.0');
    assert.equal(z.previous_config_id, id1);
    assert.equal(z.operations, 2);
    assert.deepEqual(await configInfoLines(gw), [`endpoints_gateway_config_info{config_id="${id2}",version="1.1.0"} 1`]);
    assert.equal((await send(gw.url, '/b')).status, 200);

    // A refused reload: the previous config keeps serving and stays in every view.
    const broken = versionSpec('1.2.0', 'not a url at all', ['a', 'b', 'c']);
    await replace(file, broken);
    gw.child.kill('SIGHUP');
    const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
    assert.equal(refused.spec, file);
    assert.equal(refused.config_id, expectedId('1.2.0', broken));
    assert.equal(refused.serving_config_id, id2);
    assert.ok(Array.isArray(refused.problems) && refused.problems.length > 0);
    z = await configz(gw);
    assert.equal(z.config_id, id2);
    assert.equal(z.previous_config_id, id1);
    const last = z.last_refused_reload as { config_id: string; spec: string; problems: string[]; at: string };
    assert.equal(last.config_id, expectedId('1.2.0', broken));
    assert.equal(last.spec, file);
    assert.ok(last.problems.some((p) => p.includes('x-google-backend')), JSON.stringify(last.problems));
    assert.deepEqual(await configInfoLines(gw), [`endpoints_gateway_config_info{config_id="${id2}",version="1.1.0"} 1`]);
    assert.equal((await send(gw.url, '/c')).status, 404);
    assert.equal((await send(gw.url, '/b')).status, 200);
  } finally {
    await stop(gw);
  }
});

test('endpoints-gateway --version prints the package version', async () => {
  const pkg = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, '--version']);
  assert.equal(stdout.trim(), pkg.version);
});
