// A request the gateway answers itself (401, 405, 404) while its announced body is still
// dribbling in: the connection must close after the answer, not keep reading the body for as
// long as the caller cares to send it (each such connection is otherwise held indefinitely).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { keyedSpec } from '../helpers/specs.ts';
import { waitFor } from '../helpers/wait.ts';

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-slow-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      ...keyedSpec('slow', backend.url),
      paths: { '/upload': { post: { operationId: 'upload', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Sends the head and a trickle of body bytes; resolves with what came back and when the gateway closed. */
function dribble(base: string, head: string): Promise<{ reply: string; closedAfterMs: number }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const t0 = Date.now();
    let reply = '';
    const tick = setInterval(() => {
      if (sock.writable) sock.write('x');
    }, 100);
    const giveUp = setTimeout(() => sock.destroy(), 60_000);
    sock.on('connect', () => sock.write(head));
    sock.on('data', (c: Buffer) => (reply += c.toString('utf8')));
    sock.on('error', () => undefined); // a reset after the answer is a close too
    sock.on('close', () => {
      clearInterval(tick);
      clearTimeout(giveUp);
      if (reply === '') reject(new Error('no answer before the connection closed'));
      else resolve({ reply, closedAfterMs: Date.now() - t0 });
    });
  });
}

for (const [name, head, status] of [
  ['401 (no key)', 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc', 401],
  ['405 (wrong method)', 'PUT /upload?key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc', 405],
  ['404 (unknown path)', 'POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n', 404],
] as const) {
  test(`a local ${name} to a dribbled body closes the connection at once`, async () => {
    const { reply, closedAfterMs } = await dribble(gw.url, head);
    assert.match(reply, new RegExp(`^HTTP/1.1 ${status} `));
    assert.match(reply, /\r\nconnection: close\r\n/i);
    assert.match(reply, /\{"code":\d+,"message":"/);
    // Closed by the gateway, not held until this client gives up (60 s); the rest is room for a loaded machine.
    assert.ok(closedAfterMs < 30_000, `connection held ${closedAfterMs} ms after the answer`);
    assert.equal(backend.requests.length, 0);
    // The gateway is still serving others.
    assert.equal((await send(gw.url, '/healthz')).status, 200);
  });
}

test('a bodiless local answer keeps the connection alive for the next request', async () => {
  const u = new URL(gw.url);
  const sock = net.connect(Number(u.port), u.hostname);
  let reply = '';
  sock.on('data', (c: Buffer) => (reply += c.toString('utf8')));
  sock.write('GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => (reply.match(/HTTP\/1.1 404/g) ?? []).length >= 2, `two answers on one connection (so far: ${JSON.stringify(reply)})`);
  assert.doesNotMatch(reply, /connection: close/i);
  sock.destroy();
});
