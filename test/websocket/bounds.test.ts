// WebSockets inside the gateway's bounds (issue 22, point 2), through the real CLI process with real
// WebSocket clients: upgrades count against --backend-max-connections, idle tunnels are closed after
// --stream-idle-timeout, a declined upgrade's connection is closed once its answer is sent, and
// --downstream-max-connections refuses new connections at once while the admin /healthz and the
// clients already connected keep working.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { WebSocket } from 'ws';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { startWsBackend, type WsBackend } from './ws-backend.ts';
import { assertEspRefusal, echo, HANDSHAKE, openWs } from './ws-client.ts';

const OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

let backend: WsBackend;
let other: http.Server;
let dir: string;
let specFile: string;

/** Resolves true when `ws` closes within `ms`, false otherwise (the caller asserts). */
function closesWithin(ws: WebSocket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Opens a WebSocket, retrying while the gateway still counts a connection being torn down. */
async function openEventually(base: string, p: string, ms = 10_000): Promise<WebSocket> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await openWs(base, p);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** What a fresh connection gets for `bytes`, and whether the gateway closed it (not our 20 s bound). */
function rawAnswer(base: string, bytes: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(Number(new URL(base).port), '127.0.0.1', () => s.write(bytes));
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, 20_000);
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}

/** A plain request, retried while the gateway still counts a connection being closed. */
async function sendEventually(base: string, p: string, ms = 10_000): Promise<Awaited<ReturnType<typeof send>>> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await send(base, p);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

before(async () => {
  backend = await startWsBackend();
  other = http.createServer((_req, res) => res.end('other'));
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  dir = await mkdtemp(path.join(tmpdir(), 'egw-ws-bounds-'));
  specFile = path.join(dir, 'endpoint.yaml');
  const ws = { 'x-google-backend': { address: backend.url, path_translation: 'APPEND_PATH_TO_ADDRESS', deadline: 0.5 } };
  await writeFile(
    specFile,
    stringify(
      baseSpec({
        paths: {
          '/echo': { get: op('echo', ws) },
          '/refuse': { get: op('refuse', ws) },
          '/plain': { get: op('plain', ws) },
          '/other': { get: op('other', { 'x-google-backend': { address: `http://127.0.0.1:${(other.address() as net.AddressInfo).port}/` } }) },
        },
      }),
    ),
  );
});

after(async () => {
  await backend?.close();
  other?.closeAllConnections();
  other?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function stop(gw: ChildGateway | undefined): Promise<void> {
  if (gw === undefined || gw.child.exitCode !== null) return;
  gw.child.kill('SIGKILL');
  await gw.exit();
}

describe('upgrades count against the backend connection limit; idle and declined ones are closed', () => {
  let gw: ChildGateway;
  before(async () => {
    gw = await startChildGateway([
      '--spec', specFile, '--backend-auth', 'none', '--keys', 'none',
      '--backend-max-connections', '2', '--backend-max-pending', '0', '--stream-idle-timeout', '2s',
    ]);
  });
  after(() => stop(gw));

  test('with 2 connections and no queue: 2 WebSockets open, the 3rd upgrade and a plain call get 503 overflow', async () => {
    const a = await openWs(gw.url, '/echo');
    const b = await openWs(gw.url, '/echo');
    const third = await new Promise<string>((resolve) => {
      const s = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () => s.write(HANDSHAKE('/echo')));
      let text = '';
      // Bounded: a tunnel that was let through would keep this socket open.
      const timer = setTimeout(() => s.destroy(), 10_000);
      s.on('data', (c: Buffer) => (text += c.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    assertEspRefusal(third, 503, OVERFLOW);
    const plain = await send(gw.url, '/plain');
    assert.equal(plain.status, 503);
    assert.deepEqual(plain.json(), { code: 503, message: OVERFLOW });
    // Still serving: the open tunnels echo, another backend answers.
    assert.equal(await echo(a, 'a'), 'a');
    assert.equal(await echo(b, 'b'), 'b');
    assert.equal((await send(gw.url, '/other')).body, 'other');
    await gw.waitForLog((l) => l.message === 'upstream error (upgrade)' && l.kind === 'overflow');
    // A closed tunnel gives its connection back.
    a.close();
    const c = await openEventually(gw.url, '/echo');
    assert.equal(await echo(c, 'c'), 'c');
    b.close();
    c.close();
  });

  test('an idle WebSocket is closed after --stream-idle-timeout; a busy one stays open', async () => {
    const idle = await openEventually(gw.url, '/echo');
    const busy = await openEventually(gw.url, '/echo');
    // The busy one talks every 300 ms for well past the 2 s idle timeout.
    const idleClosed = closesWithin(idle, 20_000);
    for (let i = 0; i < 12; i++) {
      assert.equal(await echo(busy, `m${i}`), `m${i}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(await idleClosed, 'the idle WebSocket was closed by the gateway');
    assert.equal(await echo(busy, 'still here'), 'still here');
    await gw.waitForLog((l) => l.message === 'stream idle timeout: WebSocket closed');
    busy.close();
    assert.equal((await send(gw.url, '/other')).body, 'other');
  });

  test("a declined upgrade is closed after the backend's answer is relayed, even if the client keeps its side open", async () => {
    const s = net.connect({ port: Number(new URL(gw.url).port), host: '127.0.0.1', allowHalfOpen: true });
    await once(s, 'connect');
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    // Not events.once: it would reject on the EPIPE this test expects.
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(HANDSHAKE('/refuse'));
    await new Promise<void>((r) => s.once('end', () => r()));
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.ok(text.endsWith('not for you'));
    // The client never closes; it keeps writing, which fails only once the gateway has let go.
    let gone = false;
    void closed.then(() => (gone = true));
    const end = Date.now() + 20_000;
    while (!gone && Date.now() < end) {
      try {
        if (s.writable) s.write('x', () => undefined);
      } catch {
        // EPIPE: the gateway has let go; 'close' follows.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, 'the gateway closed the connection of a declined upgrade');
    const ws = await openEventually(gw.url, '/echo');
    assert.equal(await echo(ws, 'after'), 'after');
    ws.close();
  });
});

describe('--downstream-max-connections', () => {
  let gw: ChildGateway;
  let adminUrl: string;
  before(async () => {
    gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--downstream-max-connections', '3', '--admin-port', '0']);
    const listening = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
    assert.equal(listening.downstreamMaxConnections, 3);
    adminUrl = `http://127.0.0.1:${String(listening.adminPort)}`;
  });
  after(() => stop(gw));

  test('WebSockets take all but a tenth: past that 503, and /healthz on the serving port still answers', async () => {
    // --downstream-max-connections 3: 2 for WebSockets, 1 kept for plain requests.
    const open = [await openEventually(gw.url, '/echo'), await openEventually(gw.url, '/echo')];
    const third = await rawAnswer(gw.url, HANDSHAKE('/echo'));
    assertEspRefusal(third.text, 503, 'Too many open WebSocket connections.');
    const health = await sendEventually(gw.url, '/healthz');
    assert.equal(health.status, 200);
    for (const [i, ws] of open.entries()) assert.equal(await echo(ws, `still ${i}`), `still ${i}`);
    for (const ws of open) ws.close();
  });

  test('past the limit a new connection is closed at once; the admin /healthz and open clients keep working', async () => {
    const open = [await openEventually(gw.url, '/echo'), await openEventually(gw.url, '/echo')];
    // The third place: a kept-alive plain client.
    const kept = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    kept.on('error', () => undefined);
    let keptText = '';
    const answered = new Promise<void>((r) =>
      kept.on('data', (c: Buffer) => {
        keptText += c.toString('latin1');
        if (keptText.includes('{"status":"ok"}')) r();
      }),
    );
    kept.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await answered;
    // A 4th connection gets no answer: it is closed as soon as it is accepted.
    const refused = await rawAnswer(gw.url, 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.deepEqual(refused, { text: '', closed: true });
    await gw.waitForLog((l) => String(l.message).startsWith('client connection refused'));
    assert.equal((await send(adminUrl, '/healthz')).status, 200);
    for (const [i, ws] of open.entries()) assert.equal(await echo(ws, `still ${i}`), `still ${i}`);
    keptText = '';
    const again = new Promise<void>((r) => kept.on('data', () => keptText.includes('{"status":"ok"}') && r()));
    kept.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await again;
    // One leaves: a new client gets in.
    kept.destroy();
    assert.equal((await sendEventually(gw.url, '/healthz')).status, 200);
    for (const ws of open) ws.close();
  });
});
