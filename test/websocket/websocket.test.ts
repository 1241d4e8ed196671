// WebSocket upgrades end to end, as ESPv2 does them (HCM upgrade_configs:
// websocket; esp-v2 tests/integration_test/websocket_test): the in-process
// gateway with the embedded key store, a real `ws` echo backend, a JWT issuer,
// quotas, and raw sockets for refusals and hostile input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CLOSED_PORT } from '../helpers/closed-port.ts';
import { waitFor } from '../helpers/wait.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { startTestIssuer, type TestIssuer } from '../jwt/issuer.ts';
import { startWsBackend, type WsBackend } from './ws-backend.ts';
import { assertEspRefusal, closeWs, echo, HANDSHAKE, makeKey, MISSING_KEY, openWs, parseRaw, SERVICE, wsSpec } from './ws-client.ts';

const PROJECT = '424242424242';

let backend: WsBackend;
let issuer: TestIssuer;
let gw: TestGateway;
let storeDir: string;
let store: string;
let key: string;

before(async () => {
  backend = await startWsBackend();
  issuer = await startTestIssuer();
  await issuer.addKey('ws', 'RS256');
  storeDir = await mkdtemp(path.join(tmpdir(), 'egw-ws-keys-'));
  store = path.join(storeDir, 'keys.yaml');
  key = await makeKey(store, PROJECT, 'ws-client');
  gw = await startTestGateway({ spec: wsSpec(backend, issuer, CLOSED_PORT), keys: `file:${store}` });
});

after(async () => {
  await gw?.close();
  await backend?.close();
  await issuer?.close();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
});

describe('WebSocket upgrades: the pipeline runs first', () => {
  test('no key on a key-protected route: ESP JSON 401 on the raw socket, nothing tunnelled', async () => {
    const before = backend.connections();
    const text = await sendRaw(gw.url, HANDSHAKE('/echo'));
    assertEspRefusal(text, 401, MISSING_KEY);
    // The socket was closed by the gateway (sendRaw resolved on close), and the backend never saw a byte.
    assert.equal(backend.connections(), before);
    assert.equal(backend.connections(), 0);
  });

  test('unknown path: ESP JSON 404', async () => {
    assertEspRefusal(await sendRaw(gw.url, HANDSHAKE(`/nowhere?key=${key}`)), 404, 'The current request is not defined by this API.');
    assert.equal(backend.connections(), 0);
  });

  test('with a key: 101, messages echoed both ways, the key checked and the consumer passed on', async () => {
    const ws = await openWs(gw.url, `/echo?key=${key}`);
    try {
      assert.equal(await echo(ws, 'hello'), 'hello');
      assert.equal(await echo(ws, 'x'.repeat(100_000)), 'x'.repeat(100_000));
      const seen = backend.upgrades.at(-1)!;
      assert.equal(seen.url, `/echo?key=${key}`);
      assert.equal(seen.headers['x-endpoint-api-consumer-number'], PROJECT);
      assert.equal(seen.headers.upgrade, 'websocket');
      assert.match(String(seen.headers.connection), /upgrade/i);
      assert.equal(seen.headers.host, '127.0.0.1');
    } finally {
      await closeWs(ws);
    }
  });

  test('path translation applies: the backend sees the translated path (CONSTANT_ADDRESS, variables as query)', async () => {
    const ws = await openWs(gw.url, `/rooms/lobby?key=${key}`);
    try {
      assert.equal(await echo(ws, 'in the lobby'), 'in the lobby');
      assert.equal(backend.upgrades.at(-1)!.url, `/ws/translated?key=${key}&room=lobby`);
    } finally {
      await closeWs(ws);
    }
  });

  test('quota: the second upgrade in the minute is refused 429, never tunnelled', async () => {
    const ws = await openWs(gw.url, `/metered?key=${key}`);
    await closeWs(ws);
    const n = backend.upgrades.length;
    const text = await sendRaw(gw.url, HANDSHAKE(`/metered?key=${key}`));
    assertEspRefusal(
      text,
      429,
      `RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'opens' and limit 'opens-limit' of service '${SERVICE}' for consumer 'project_number:${PROJECT}'.`,
    );
    assert.equal(backend.upgrades.length, n);
  });

  test('JWT: no token is refused 401 (Jwt is missing); a valid token opens the WebSocket', async () => {
    const n = backend.upgrades.length;
    assertEspRefusal(await sendRaw(gw.url, HANDSHAKE('/jwt')), 401, 'Jwt is missing');
    const bad = await issuer.mint('ws', { aud: 'someone-else' });
    assertEspRefusal(await sendRaw(gw.url, HANDSHAKE('/jwt', `Authorization: Bearer ${bad}\r\n`)), 403, 'Audiences in Jwt are not allowed');
    assert.equal(backend.upgrades.length, n);
    const token = await issuer.mint('ws', { aud: 'ws-aud' });
    const ws = await openWs(gw.url, '/jwt', { authorization: `Bearer ${token}` });
    try {
      assert.equal(await echo(ws, 'signed'), 'signed');
      assert.equal(backend.upgrades.at(-1)!.headers['x-endpoint-api-userinfo'], token.split('.')[1]);
    } finally {
      await closeWs(ws);
    }
  });
});

describe('WebSocket upgrades: backend failures', () => {
  test('backend refuses the connection: ESP JSON 503 in Envoy words', async () => {
    const text = await sendRaw(gw.url, HANDSHAKE(`/down?key=${key}`));
    assertEspRefusal(text, 503, /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
  });

  test('backend drops the connection before answering: ESP JSON 503', async () => {
    const text = await sendRaw(gw.url, HANDSHAKE(`/reset?key=${key}`));
    assertEspRefusal(text, 503, /^upstream connect error or disconnect\/reset before headers\. reset reason: connection termination/);
  });

  test("backend declines the upgrade (403, no 101): its answer is relayed as Envoy does, then the connection closes", async () => {
    const a = parseRaw(await sendRaw(gw.url, HANDSHAKE(`/refuse?key=${key}`)));
    assert.equal(a.status, 403);
    assert.equal(a.body, 'not for you');
    assert.equal(a.headers.connection, 'close');
  });

  test('a backend that takes longer than the deadline to send its 101: 504 upstream request timeout', async () => {
    // The 504 itself shows the 1 s deadline answered: had the gateway waited, the backend's 101 (at 10 s) would be relayed.
    const t0 = Date.now();
    const text = await sendRaw(gw.url, HANDSHAKE(`/slow?key=${key}`), 30_000);
    assertEspRefusal(text, 504, 'upstream request timeout');
    assert.ok(Date.now() - t0 < 9000, `answered after ${Date.now() - t0} ms, before the backend's 101 at 10 s`);
  });

  test("an open WebSocket outlives the operation's deadline (deadline 1 s, open 2 s)", async () => {
    const ws = await openWs(gw.url, `/short?key=${key}`);
    try {
      assert.equal(await echo(ws, 'first'), 'first');
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.equal(await echo(ws, 'still here'), 'still here');
    } finally {
      await closeWs(ws);
    }
  });
});

describe('WebSocket upgrades: hostile and odd input never crash the gateway', () => {
  test('garbage after the headers of a refused upgrade; client resets before and after the 101', async () => {
    assertEspRefusal(await sendRaw(gw.url, HANDSHAKE('/echo') + '\x00\xff'.repeat(50_000)), 401, MISSING_KEY);

    // Reset while the pipeline runs.
    const s1 = net.connect(gw.gw.port, '127.0.0.1');
    await once(s1, 'connect');
    s1.write(HANDSHAKE(`/echo?key=${key}`));
    s1.resetAndDestroy();

    // Reset once the tunnel is open: the backend side closes too.
    const s2 = net.connect(gw.gw.port, '127.0.0.1');
    await once(s2, 'connect');
    s2.write(HANDSHAKE(`/echo?key=${key}`));
    const [first] = (await once(s2, 'data')) as [Buffer];
    assert.match(first.toString(), /^HTTP\/1\.1 101 /);
    const backendClosed = backend.nextClose();
    s2.resetAndDestroy();
    await backendClosed;

    // Garbage frames right after a good handshake: relayed; the backend's ws
    // library answers with a close frame (1002, protocol error) through the tunnel.
    const s3 = net.connect(gw.gw.port, '127.0.0.1');
    s3.on('error', () => {});
    await once(s3, 'connect');
    s3.write(Buffer.concat([Buffer.from(HANDSHAKE(`/echo?key=${key}`)), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from(' garbage')]));
    let got = Buffer.alloc(0);
    while (!(got.includes('\r\n\r\n') && got.indexOf(0x88, got.indexOf('\r\n\r\n')) > 0)) {
      const [c] = (await once(s3, 'data')) as [Buffer];
      got = Buffer.concat([got, c]);
    }
    assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 /);
    const closeFrame = got.subarray(got.indexOf('\r\n\r\n') + 4);
    assert.equal(closeFrame[0], 0x88);
    assert.equal(closeFrame.readUInt16BE(2), 1002);
    s3.destroy();

    assert.equal((await send(gw.url, '/healthz')).status, 200);
    const ws = await openWs(gw.url, `/echo?key=${key}`);
    assert.equal(await echo(ws, 'alive'), 'alive');
    await closeWs(ws);
    // Every tunnel above is gone: nothing is left open on the backend.
    await waitFor(() => backend.openSockets() === 0, 'the backend sockets to close');
  });

  test('an upgrade to another protocol is refused 403 (Envoy upgrade_failed); a POST upgrade 400', async () => {
    const n = backend.connections();
    const foo = HANDSHAKE(`/echo?key=${key}`).replace('Upgrade: websocket', 'Upgrade: foo/1');
    assertEspRefusal(await sendRaw(gw.url, foo), 403, 'Only WebSocket upgrades are supported by this gateway.');
    const post = HANDSHAKE(`/echo?key=${key}`).replace('GET', 'POST').replace('\r\n\r\n', '\r\nContent-Length: 3\r\n\r\nabc');
    assertEspRefusal(await sendRaw(gw.url, post), 400, 'WebSocket upgrades must use GET.');
    assert.equal(backend.connections(), n);
  });

  test('h2c upgrades are served as plain HTTP/1.1 requests without the upgrade headers (Envoy ignores h2c)', async () => {
    const r = await send(gw.url, `/echo?key=${key}`, {
      headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAAP__' },
    });
    assert.equal(r.status, 200, r.body);
    const seen = backend.plain.at(-1)!;
    assert.equal(seen.headers.upgrade, undefined);
    assert.equal(seen.headers['http2-settings'], undefined);
    assert.doesNotMatch(String(seen.headers.connection ?? ''), /upgrade/i);
  });
});

describe('WebSocket upgrades: configuration and shutdown', () => {
  test('--no-websockets: every upgrade is refused 403 in ESP JSON, never tunnelled', async () => {
    const off = await startTestGateway({ spec: wsSpec(backend, undefined, CLOSED_PORT), keys: `file:${store}`, websockets: false });
    try {
      const n = backend.connections();
      assertEspRefusal(await sendRaw(off.url, HANDSHAKE(`/echo?key=${key}`)), 403, 'WebSocket upgrades are not supported by this gateway.');
      assert.equal(backend.connections(), n);
      // Plain requests still work.
      assert.equal((await send(off.url, `/echo?key=${key}`)).status, 200);
    } finally {
      await off.close();
    }
  });

  test('shutdown closes an open WebSocket (both sides) within the grace period', async () => {
    const g = await startTestGateway({ spec: wsSpec(backend, undefined, CLOSED_PORT), keys: `file:${store}` });
    const ws = await openWs(g.url, `/echo?key=${key}`);
    assert.equal(await echo(ws, 'before'), 'before');
    const clientClosed = once(ws, 'close');
    const backendClosed = backend.nextClose();
    const t0 = Date.now();
    await g.gw.close(400);
    const took = Date.now() - t0;
    await Promise.all([clientClosed, backendClosed]);
    // At the end of the grace, not before it and not whenever the WebSocket happens to close (never, here).
    assert.ok(took >= 350 && took < 10_000, `close took ${took} ms for a 400 ms grace`);
    await rm(g.dir, { recursive: true, force: true });
  });
});
