// Serving defaults an operator relies on: duration units, the shutdown grace, --keys none, cache folders.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { operatorFixture, type OperatorFixture } from './fixture.ts';

let fx: OperatorFixture;
let dir: string;
let spec: string;

before(async () => {
  fx = await operatorFixture('defaults');
  ({ dir, spec } = fx);
});
after(() => fx.close());

const serve: OperatorFixture['serve'] = (args, opts) => fx.serve(args, opts);

describe('durations', () => {
  test('a bare number is seconds for flags and env vars alike; a bad value is refused naming the units', async () => {
    const gw = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--shutdown-grace', '2']);
    gw.child.kill('SIGTERM');
    assert.equal((await gw.waitForLog((l) => l.message === 'draining: no new connections, finishing in-flight requests')).graceMs, 2000);
    assert.equal(await gw.exit(), 0);

    const viaEnv = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none'], { ENDPOINTS_SHUTDOWN_GRACE: '1.5' });
    viaEnv.child.kill('SIGTERM');
    assert.equal((await viaEnv.waitForLog((l) => String(l.message).startsWith('draining'))).graceMs, 1500);
    assert.equal(await viaEnv.exit(), 0);

    const bad = await serve(['--port', '0', '--keys', 'none', '--key-refresh', '5 minutes']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /500ms, 30s, 5m or 1h \(a bare number is seconds\)/);
  });

  test('--shutdown-grace defaults to 8 s, below Cloud Run\'s 10 s SIGTERM-to-SIGKILL window', async () => {
    const gw = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none']);
    gw.child.kill('SIGTERM');
    assert.equal((await gw.waitForLog((l) => String(l.message).startsWith('draining'))).graceMs, 8000);
    assert.equal(await gw.exit(), 0);
  });
});

describe('--keys none', () => {
  test('says at start which operations cannot work; a key gets a 503 that says why, not a Service Control outage', async () => {
    const gw = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none']);
    try {
      const warned = await gw.waitForLog((l) => String(l.message).startsWith('--keys none'));
      assert.equal(warned.severity, 'WARNING');
      assert.equal(warned.operations, 1);
      assert.deepEqual(warned.examples, ['keyed']);
      assert.equal((await send(gw.url, '/open')).status, 200);
      assert.equal((await send(gw.url, '/keyed')).status, 401);
      const r = await send(gw.url, '/keyed?key=AIzaSyAnything');
      assert.equal(r.status, 503);
      assert.deepEqual(r.json(), {
        code: 503,
        message: 'UNAVAILABLE: This gateway checks no API keys (it runs with --keys none), so a method that requires one cannot be called.',
      });
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exit();
    }
  });
});

describe('cache folders', () => {
  test('a cache folder that cannot be written is said once, and the gateway serves on', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    await writeFile(blocker, '');
    const gw = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none'], { ENDPOINTS_CACHE_DIR: path.join(blocker, 'specs') });
    try {
      const lines = gw.logs.filter((l) => String(l.message).startsWith('cache folder not writable'));
      assert.equal(lines.length, 1);
      assert.deepEqual(lines[0]!.folders, [path.join(blocker, 'specs')]);
      assert.match(String(lines[0]!.message), /emptyDir/);
      assert.equal((await send(gw.url, '/open')).status, 200);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exit();
    }
    const fine = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none'], { ENDPOINTS_CACHE_DIR: path.join(dir, 'cache') });
    try {
      assert.equal(fine.logs.filter((l) => String(l.message).startsWith('cache folder')).length, 0);
    } finally {
      fine.child.kill('SIGTERM');
      await fine.exit();
    }
  });
});
