// --spec FOLDER: each file a config version. The newest valid one by version-sorted name is
// served; --config-id and the pin file written by `configs rollback` choose another; a broken new
// version is refused while the previous keeps serving; a rollback under traffic fails no request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { compareVersionNames } from '../../src/config/versions.ts';
import { runCli } from '../helpers/cli.ts';
import { configz, expectedId, replace, steadyLoad, until, versionSpec } from './support.ts';

const cli = (...args: string[]) => runCli(args);

let backend: TestBackend;
let folder: string;
const ids: Record<string, string> = {};
// Names sort v9 < v10 < v11 only version-wise (as text, v9 is last); mtimes make v9 the most recent.
const NAMES = ['api-v9.yaml', 'api-v10.yaml', 'api-v11.yaml'];
const version = (name: string) => `1.${/v(\d+)/.exec(name)![1]}.0`;
const only = (name: string) => `/only-${/v(\d+)/.exec(name)![1]}`;

before(async () => {
  backend = await startTestBackend();
  folder = await mkdtemp(path.join(tmpdir(), 'egw-versions-'));
  const now = Date.now() / 1000;
  for (const [i, name] of NAMES.entries()) {
    const text = versionSpec(version(name), backend.url, ['common', only(name).slice(1)]);
    await writeFile(path.join(folder, name), text);
    ids[name] = expectedId(version(name), text);
    await utimes(path.join(folder, name), now - 100 * (3 - i), name === 'api-v9.yaml' ? now : now - 100 * (3 - i));
  }
  // Not versions: hidden files and other extensions.
  await writeFile(path.join(folder, '.editor-swap.yaml'), 'not: a spec');
  await writeFile(path.join(folder, 'README.txt'), 'notes');
});
after(async () => {
  await backend?.close();
  await rm(folder, { recursive: true, force: true });
});

const stop = async (gw: ChildGateway) => {
  gw.child.kill('SIGTERM');
  await gw.exit();
};
const base = ['--keys', 'none', '--backend-auth', 'none', '--admin-port', '0'];

test('version-sorted names: digit runs compare as numbers', () => {
  assert.deepEqual([...NAMES].sort(compareVersionNames), NAMES);
  assert.deepEqual(['2026-12-01.yaml', '2025-01-30.yaml'].sort(compareVersionNames), ['2025-01-30.yaml', '2026-12-01.yaml']);
  assert.ok(compareVersionNames('v1.10.0.yaml', 'v1.9.3.yaml') > 0);
});

describe('a gateway on a folder of three versions (--watch)', () => {
  let gw: ChildGateway;
  before(async () => {
    gw = await startChildGateway(['--spec', folder, '--watch', ...base]);
  });
  after(async () => stop(gw));

  test('the newest by name is served', async () => {
    const z = await configz(gw);
    assert.equal(z.config_id, ids['api-v11.yaml']);
    assert.equal(z.spec, path.join(folder, 'api-v11.yaml'));
    assert.equal(z.selected_by, 'newest');
    assert.equal((await send(gw.url, '/only-11')).status, 200);
    assert.equal((await send(gw.url, '/only-9')).status, 404);
  });

  test('configs list: every version, newest first, the served one marked', async () => {
    const r = await cli('configs', 'list', '--spec', folder, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { pin: null; configs: { config_id: string; file: string; valid: boolean; served: boolean; operations: number }[] };
    assert.deepEqual(out.configs.map((c) => c.file), ['api-v11.yaml', 'api-v10.yaml', 'api-v9.yaml']);
    assert.deepEqual(out.configs.map((c) => c.config_id), [ids['api-v11.yaml'], ids['api-v10.yaml'], ids['api-v9.yaml']]);
    assert.deepEqual(out.configs.map((c) => c.served), [true, false, false]);
    assert.ok(out.configs.every((c) => c.valid && c.operations === 2));
    const text = await cli('configs', 'list', '--spec', folder);
    assert.match(text.stdout, new RegExp(`^\\*\\s+${ids['api-v11.yaml']}\\s+1\\.11\\.0\\s+api-v11\\.yaml\\s+\\S+Z\\s+2\\s+valid$`, 'm'));
  });

  test('a broken new version is refused with its problems; the previous keeps serving', async () => {
    const broken = versionSpec('1.12.0', backend.url, ['common', 'only-12'], { 'x-google-backend': { address: 'not a url at all' } });
    // Written aside and renamed in: the watcher never sees it half written (an empty newest
    // version would be refused on its own, first).
    await replace(path.join(folder, 'api-v12.yaml'), broken);
    const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
    assert.equal(refused.spec, path.join(folder, 'api-v12.yaml'));
    assert.equal(refused.config_id, expectedId('1.12.0', broken));
    assert.ok((refused.problems as string[]).some((p) => p.includes('api-v12.yaml') && p.includes('x-google-backend')), JSON.stringify(refused.problems));
    const z = await configz(gw);
    assert.equal(z.config_id, ids['api-v11.yaml']);
    assert.equal((z.last_refused_reload as { config_id: string }).config_id, expectedId('1.12.0', broken));
    assert.equal((await send(gw.url, '/only-12')).status, 404);
    assert.equal((await send(gw.url, '/only-11')).status, 200);
    const list = await cli('configs', 'list', '--spec', folder);
    assert.match(list.stdout, /api-v12\.yaml .*x-google-backend/);
  });

  test('configs rollback under continuous traffic: previous, then --to ID, then unpin; no request fails', async () => {
    const load = steadyLoad(gw.url, '/common');
    try {
      await until(async () => load.count() > 20);

      // No --to: the version before the one served (v11; v12 is invalid) is v10.
      let r = await cli('configs', 'rollback', '--spec', folder);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`pinned ${ids['api-v10.yaml']} \\(api-v10\\.yaml\\)`));
      assert.equal((await readFile(path.join(folder, '.endpoints-pin'), 'utf8')).trim(), ids['api-v10.yaml']);
      await until(async () => (await configz(gw)).config_id === ids['api-v10.yaml']);
      let z = await configz(gw);
      assert.equal(z.selected_by, 'pin-file');
      assert.equal(z.previous_config_id, ids['api-v11.yaml']);
      assert.equal((await send(gw.url, '/only-10')).status, 200);
      assert.equal((await send(gw.url, '/only-11')).status, 404);

      r = await cli('configs', 'rollback', '--spec', folder, '--to', ids['api-v9.yaml']!);
      assert.equal(r.code, 0, r.stderr);
      await until(async () => (await configz(gw)).config_id === ids['api-v9.yaml']);
      assert.equal((await send(gw.url, '/only-9')).status, 200);

      // An unknown id or an invalid version is never pinned.
      r = await cli('configs', 'rollback', '--spec', folder, '--to', '9.9.9-000000000000');
      assert.equal(r.code, 2);
      r = await cli('configs', 'rollback', '--spec', folder, '--to', 'api-v12.yaml');
      assert.equal(r.code, 2);
      assert.match(r.stderr, /invalid/);
      assert.equal((await readFile(path.join(folder, '.endpoints-pin'), 'utf8')).trim(), ids['api-v9.yaml']);

      // Unpinned (the broken v12 removed first): back to the newest valid.
      await unlink(path.join(folder, 'api-v12.yaml'));
      r = await cli('configs', 'unpin', '--spec', folder);
      assert.equal(r.code, 0, r.stderr);
      await until(async () => (await configz(gw)).config_id === ids['api-v11.yaml']);
      z = await configz(gw);
      assert.equal(z.selected_by, 'newest');

      await new Promise((res) => setTimeout(res, 200));
    } finally {
      const { failures, count } = await load.stop();
      assert.deepEqual(failures, []);
      assert.ok(count > 50, `traffic ran: ${count} requests`);
    }
  });
});

test('--config-id pins a version; SIGHUP keeps it; an unknown id refuses to start', async () => {
  const gw = await startChildGateway(['--spec', folder, '--config-id', ids['api-v9.yaml']!, ...base]);
  try {
    let z = await configz(gw);
    assert.equal(z.config_id, ids['api-v9.yaml']);
    assert.equal(z.selected_by, 'config-id');
    assert.equal((await send(gw.url, '/only-9')).status, 200);
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.message === 'spec reloaded');
    z = await configz(gw);
    assert.equal(z.config_id, ids['api-v9.yaml']);
    // Without --watch, a rollback takes effect on SIGHUP; the pin file wins over --config-id.
    const r = await cli('configs', 'rollback', '--spec', folder, '--to', 'api-v10.yaml');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await configz(gw)).config_id, ids['api-v9.yaml'], 'nothing changes before the signal');
    gw.child.kill('SIGHUP');
    await until(async () => (await configz(gw)).config_id === ids['api-v10.yaml']);
    assert.equal((await configz(gw)).selected_by, 'pin-file');
  } finally {
    await stop(gw);
    await cli('configs', 'unpin', '--spec', folder);
  }
  const r = await cli('serve', '--spec', folder, '--config-id', '1.0.0-abcdefabcdef', '--port', '0', ...base);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config-id names config 1\.0\.0-abcdefabcdef, which no spec file in the folder has/);
  // With one file, --config-id guards it: another config refuses to start.
  const one = await cli('serve', '--spec', path.join(folder, 'api-v9.yaml'), '--config-id', ids['api-v10.yaml']!, '--port', '0', ...base);
  assert.equal(one.code, 2);
  assert.match(one.stderr, new RegExp(`is config ${ids['api-v9.yaml']}, not the --config-id ${ids['api-v10.yaml']}`));
});

test('a start with a broken newest version serves the newest valid one, and says why', async () => {
  const name = 'api-v13.yaml';
  await writeFile(path.join(folder, name), 'swagger: "2.0"\npaths: [oops');
  try {
    const gw = await startChildGateway(['--spec', folder, ...base]);
    try {
      const skipped = await gw.waitForLog((l) => String(l.message).startsWith('config version refused'));
      assert.equal(skipped.spec, path.join(folder, name));
      const z = await configz(gw);
      assert.equal(z.config_id, ids['api-v11.yaml']);
      assert.equal((z.last_refused_reload as { spec: string }).spec, path.join(folder, name));
    } finally {
      await stop(gw);
    }
  } finally {
    await unlink(path.join(folder, name));
  }
});

test('without --watch, SIGHUP rolls out a new file in the folder: a valid one is served, a broken one refused', async () => {
  const own = await mkdtemp(path.join(tmpdir(), 'egw-versions-hup-'));
  try {
    const v1 = versionSpec('2.1.0', backend.url, ['common', 'only-1']);
    await writeFile(path.join(own, 'v1.yaml'), v1);
    const gw = await startChildGateway(['--spec', own, ...base]);
    try {
      assert.equal((await configz(gw)).config_id, expectedId('2.1.0', v1));
      // A valid new version: validated and served on the signal, with its reload line.
      const v2 = versionSpec('2.2.0', backend.url, ['common', 'only-2']);
      await writeFile(path.join(own, 'v2.json'), JSON.stringify(parseYaml(v2)));
      const v2bytes = await readFile(path.join(own, 'v2.json'));
      assert.equal((await configz(gw)).config_id, expectedId('2.1.0', v1), 'nothing changes before the signal');
      gw.child.kill('SIGHUP');
      const line = await gw.waitForLog((l) => l.message === 'spec reloaded');
      assert.equal(line.config_id, expectedId('2.2.0', v2bytes));
      assert.equal(line.previous_config_id, expectedId('2.1.0', v1));
      assert.equal(line.spec, path.join(own, 'v2.json'));
      assert.equal(line.operations, 2);
      assert.equal((await send(gw.url, '/only-2')).status, 200);
      assert.equal((await send(gw.url, '/only-1')).status, 404);
      // A broken newer one (.yml): refused with its problems, v2 keeps serving.
      await writeFile(path.join(own, 'v3.yml'), versionSpec('2.3.0', 'not a url at all', ['common', 'only-3']));
      gw.child.kill('SIGHUP');
      const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
      assert.equal(refused.spec, path.join(own, 'v3.yml'));
      assert.equal(refused.serving_config_id, expectedId('2.2.0', v2bytes));
      const z = await configz(gw);
      assert.equal(z.config_id, expectedId('2.2.0', v2bytes));
      assert.equal((z.last_refused_reload as { spec: string }).spec, path.join(own, 'v3.yml'));
      assert.equal((await send(gw.url, '/only-2')).status, 200);
      assert.equal((await send(gw.url, '/only-3')).status, 404);
    } finally {
      await stop(gw);
    }
  } finally {
    await rm(own, { recursive: true, force: true });
  }
});
