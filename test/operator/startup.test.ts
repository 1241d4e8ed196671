// Starting the gateway outside the demo: what a newcomer sees when something is missing or busy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { busyPort, runCli } from '../helpers/cli.ts';
import { operatorFixture, type OperatorFixture } from './fixture.ts';

let fx: OperatorFixture;
let dir: string;
let spec: string;

before(async () => {
  fx = await operatorFixture('start');
  ({ dir, spec } = fx);
});
after(() => fx.close());

const serve: OperatorFixture['serve'] = (args, opts) => fx.serve(args, opts);

describe('start-up refusals: one line, no stack, exit 1', () => {
  test('the default key store is missing: says it is the default off Google Cloud, how to create a key, how to run without', async () => {
    const r = await serve(['--port', '0'], { cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /ENOENT|\n\s+at /);
    assert.match(lines[0]!, /keys\.yaml does not exist/);
    assert.match(lines[0]!, /default is --keys file:keys\.yaml/);
    assert.match(lines[0]!, /keys create --store keys\.yaml --project NUMBER/);
    assert.match(lines[0]!, /--keys none/);
  });

  test('an explicit --keys file:PATH that is missing names the path', async () => {
    const r = await serve(['--port', '0', '--keys', `file:${path.join(dir, 'nope', 'store.yaml')}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\/store\.yaml does not exist \(--keys file:/);
    assert.doesNotMatch(r.stderr, /default is/);
  });

  test('a busy port: names the port and PORT / --port', async () => {
    const held = await busyPort();
    try {
      const r = await serve(['--port', String(held.port), '--keys', 'none']);
      assert.notEqual(r.code, 0);
      const err = r.stderr.trim().split('\n');
      assert.equal(err.length, 1, r.stderr);
      assert.match(err[0]!, new RegExp(`port ${held.port} is already in use`));
      assert.match(err[0]!, /--port N or PORT=N/);
      assert.doesNotMatch(r.stderr, /EADDRINUSE|\n\s+at /);
      // The same through $PORT.
      const viaEnv = await runCli(['serve', '--spec', spec, '--host', '127.0.0.1', '--backend-auth', 'none', '--keys', 'none'], { env: { PORT: String(held.port) } });
      assert.equal(viaEnv.code, 1);
      assert.match(viaEnv.stderr, new RegExp(`port ${held.port} is already in use`));
    } finally {
      await held.close();
    }
  });

  test('a busy admin port names --admin-port', async () => {
    const held = await busyPort();
    try {
      const r = await serve(['--port', '0', '--keys', 'none', '--admin-port', String(held.port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`admin port ${held.port} is already in use.*--admin-port N`));
    } finally {
      await held.close();
    }
  });
});
