// WebSocket upgrades through the real CLI process: refusal and tunnel, a
// client reset, SIGTERM with an open WebSocket, and --no-websockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { CLOSED_PORT } from '../helpers/closed-port.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { startWsBackend, type WsBackend } from './ws-backend.ts';
import { assertEspRefusal, echo, HANDSHAKE, makeKey, MISSING_KEY, openWs, wsSpec } from './ws-client.ts';

let backend: WsBackend;
let dir: string;
let specFile: string;
let store: string;
let key: string;

before(async () => {
  backend = await startWsBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-ws-cli-'));
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify(wsSpec(backend, undefined, CLOSED_PORT)));
  store = path.join(dir, 'keys.yaml');
  key = await makeKey(store, '777', 'cli-ws');
});

after(async () => {
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const start = (...extra: string[]) =>
  startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${store}`, '--shutdown-grace', '500ms', ...extra]);

describe('WebSocket upgrades in the CLI process', () => {
  let gw: ChildGateway;
  before(async () => {
    gw = await start();
  });
  after(async () => {
    if (gw && gw.child.exitCode === null) {
      gw?.child.kill('SIGKILL');
      await gw?.exit();
    }
  });

  test('401 without a key (nothing tunnelled), 101 and echo with one, survives a client reset', async () => {
    const n = backend.connections();
    assertEspRefusal(await sendRaw(gw.url, HANDSHAKE('/echo')), 401, MISSING_KEY);
    assert.equal(backend.connections(), n);

    const ws = await openWs(gw.url, `/echo?key=${key}`);
    assert.equal(await echo(ws, 'from the cli'), 'from the cli');

    const s = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    await once(s, 'connect');
    s.write(HANDSHAKE(`/echo?key=${key}`));
    s.resetAndDestroy();
    assert.equal((await send(gw.url, '/healthz')).status, 200);
    assert.equal(await echo(ws, 'still open'), 'still open');

    // SIGTERM: the open WebSocket is cut at the end of the 500 ms grace and the process exits.
    const closed = once(ws, 'close');
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    const code = await gw.exit();
    await closed;
    const took = Date.now() - t0;
    assert.equal(code, 0, gw.stderr());
    // Well before the default 8 s grace: the 500 ms one cut the WebSocket.
    assert.ok(took < 7000, `exited ${took} ms after SIGTERM with a 500 ms grace`);
    assert.equal(gw.child.signalCode, null);
  });
});

describe('--no-websockets in the CLI process', () => {
  test('upgrades are refused 403 in ESP JSON and never reach the backend', async () => {
    const gw = await start('--no-websockets');
    try {
      const n = backend.connections();
      assertEspRefusal(await sendRaw(gw.url, HANDSHAKE(`/echo?key=${key}`)), 403, 'WebSocket upgrades are not supported by this gateway.');
      assert.equal(backend.connections(), n);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exit();
    }
  });
});
