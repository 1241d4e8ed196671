// Forwarding: streaming both ways, keep-alive, deadlines and dead backends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { baseSpec, op, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';

/** A backend whose handlers the tests set, recording the client port of every request. */
let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end('ok');
const remotePorts: number[] = [];
let server: http.Server;
let base: string;
let gw: TestGateway;

before(async () => {
  server = http.createServer((req, res) => {
    remotePorts.push(req.socket.remotePort ?? 0);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

  gw = await startTestGateway({
    spec: baseSpec({
      'x-google-backend': { address: base },
      paths: {
        '/stream': { get: op('stream'), post: op('upload') },
        '/slow': { get: op('slow', { 'x-google-backend': { address: `${base}/slow`, deadline: 0.3 } }) },
        '/dead': { get: op('dead', { 'x-google-backend': { address: `${CLOSED_URL}/x` } }) },
        '/ok': { get: op('ok') },
      },
    }),
  });
});

after(async () => {
  await gw?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe('proxying', () => {
  test('responses stream: the client gets the first chunk before the backend has finished', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      void released.then(() => res.end('second'));
    };
    const u = new URL(gw.url);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: u.hostname, port: u.port, path: '/stream', agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
            if (text === 'first;') release(); // only now may the backend finish
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'first;second');
  });

  test('request bodies stream: the backend reads the first chunk while the client is still sending', async () => {
    let firstSeen!: () => void;
    const seen = new Promise<void>((r) => (firstSeen = r));
    handler = (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        if (n === 0) firstSeen();
        n += c.length;
      });
      req.on('end', () => res.end(String(n)));
    };
    const u = new URL(gw.url);
    const reply = new Promise<string>((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, path: '/stream', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 1));
      // Only after the backend has the first chunk do we send the rest.
      void seen.then(() => {
        req.write(Buffer.alloc(5 * 1024 * 1024, 2));
        req.end();
      });
    });
    assert.equal(await reply, String(64 * 1024 + 5 * 1024 * 1024));
  });

  test('backend connections are kept alive and reused', async () => {
    handler = (_req, res) => res.end('ok');
    remotePorts.length = 0;
    for (let i = 0; i < 8; i++) assert.equal((await send(gw.url, '/ok')).status, 200);
    assert.equal(new Set(remotePorts).size, 1, `ports used: ${remotePorts.join(',')}`);
  });

  test('deadline: 504 "upstream request timeout", and the gateway keeps serving', async () => {
    handler = (req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('late'), 10_000).unref();
      else res.end('ok');
    };
    const t0 = Date.now();
    const r = await send(gw.url, '/slow');
    const took = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.deepEqual(r.json(), { code: 504, message: 'upstream request timeout' });
    // The 0.3 s deadline answered, not the backend (200 'late' at 10 s).
    assert.ok(took >= 280 && took < 9000, `answered after ${took} ms`);
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });

  test('an unreachable backend: 503 in JSON, and the gateway keeps serving', async () => {
    const r = await send(gw.url, '/dead');
    assert.equal(r.status, 503);
    const body = r.json<{ code: number; message: string }>();
    assert.equal(body.code, 503);
    assert.match(body.message, /^upstream connect error or disconnect\/reset before headers/);
    handler = (_req, res) => res.end('ok');
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });

  test('a backend that resets mid-response does not crash the gateway', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    await send(gw.url, '/stream').catch(() => undefined);
    handler = (_req, res) => res.end('ok');
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });
});
