// Per-origin connection limit, the bounded pending queue (Envoy's overflow answer), and the deadline over
// the whole exchange.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { baseSpec, op, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

let server: http.Server;
let gw: TestGateway;
let held: http.ServerResponse[] = [];
let open = 0;
let maxOpen = 0;
let foreverClosed = false;

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/stall-body') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('start');
      return; // never finishes
    }
    if (req.url === '/hold') {
      held.push(res);
      return;
    }
    if (req.url === '/forever') {
      foreverClosed = false;
      res.on('close', () => (foreverClosed = true));
      const t = setInterval(() => res.write('tick;'), 10);
      res.on('close', () => clearInterval(t));
      return;
    }
    res.end('ok');
  });
  server.on('connection', (s) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    s.on('close', () => open--);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  gw = await startTestGateway({
    backendMaxConnections: 2,
    backendMaxPending: 1,
    spec: baseSpec({
      'x-google-backend': { address: base },
      paths: {
        '/hold': { get: op('hold') },
        '/ok': { get: op('ok') },
        '/forever': { get: op('forever') },
        '/stall-body': { get: op('stall', { 'x-google-backend': { address: `${base}/stall-body`, deadline: 0.4 } }) },
      },
    }),
  });
});

after(async () => {
  for (const r of held) r.end();
  await gw?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe('limits', () => {
  test('at most --backend-max-connections connections; past the pending queue, 503 overflow at once', async () => {
    maxOpen = 0;
    // 2 running + 1 pending fill the origin; a 4th is refused at once.
    const first = [0, 1].map(() => send(gw.url, '/hold'));
    await waitFor(() => held.length === 2, 'two requests at the backend');
    // Whichever of the next two reaches the gateway second finds the queue full. It is
    // answered while the others are still held: at once, with the overflow answer, not
    // at the 15 s deadline (504).
    const last = [0, 1].map(() => send(gw.url, '/hold'));
    const refused = await Promise.race(last.map((p, i) => p.then((r) => ({ i, r }))));
    assert.equal(refused.r.status, 503);
    assert.deepEqual(refused.r.json(), { code: 503, message: 'upstream connect error or disconnect/reset before headers. reset reason: overflow' });
    assert.equal(held.length, 2, 'the pending request waits for a connection');
    assert.equal(maxOpen, 2);
    // Releasing the held responses drains the queue: every waiting request completes.
    const release = setInterval(() => {
      for (const r of held.splice(0)) r.end('done');
    }, 10);
    const replies = await Promise.all([...first, last[1 - refused.i]!]);
    clearInterval(release);
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });

  test('the deadline bounds the whole exchange: a body that stalls is cut', async () => {
    const t0 = Date.now();
    const reply = await sendRaw(gw.url, 'GET /stall-body HTTP/1.1\r\nhost: x\r\n\r\n', 30_000);
    const took = Date.now() - t0;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(reply.endsWith('start'), 'cut after what the backend had sent');
    // Cut by the 0.4 s deadline; without it the body would stall until this client gives up (30 s).
    assert.ok(took >= 380 && took < 10_000, `cut after ${took} ms`);
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });

  test('a client that leaves stops the backend exchange, and frees its place in the queue', async () => {
    const u = new URL(gw.url);
    // Far more departures than the origin's 3 places: a leaked place would refuse the requests after.
    for (let i = 0; i < 8; i++) {
      foreverClosed = false;
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: u.hostname, port: u.port, path: '/forever', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        setTimeout(() => reject(new Error('no first chunk')), 30_000).unref();
      });
      await waitFor(() => foreverClosed, 'the backend response to be closed when the client left');
    }
    const replies = await Promise.all([0, 1, 2].map(() => send(gw.url, '/ok')));
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
  });
});
