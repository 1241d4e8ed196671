// The request path as one declared chain (issue 21), attacked through the real CLI process:
// - the gateway's own paths, however encoded, never reach a backend (plain requests and upgrades);
// - every exchange is recorded once: upgrades (accepted and refused), reserved and docs-page requests;
// - a body read for validation is bounded by the operation's deadline;
// - a request in flight across a reload is logged with the config id that handled it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';

/** A backend that counts every connection and upgrade, answers 101 to upgrades, and can hold /hold until released. */
async function startCountingBackend() {
  let connections = 0;
  let upgrades = 0;
  const held: http.ServerResponse[] = [];
  const heldArrived: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/hold')) {
      held.push(res);
      for (const f of heldArrived.splice(0)) f();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"backend"}');
  });
  server.on('connection', () => connections++);
  const tunnels = new Set<net.Socket>();
  server.on('upgrade', (_req, socket: net.Socket) => {
    upgrades++;
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(d));
    // A WebSocket server closes its side when the client closes its own.
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    upgrades: () => upgrades,
    /** Resolves once a /hold request has arrived. */
    held: () => (held.length > 0 ? Promise.resolve() : new Promise<void>((r) => heldArrived.push(r))),
    release: () => {
      for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'application/json' }).end('{"held":true}');
    },
    close: () => {
      // Upgraded sockets left the HTTP server: closeAllConnections does not see them.
      for (const t of tunnels) t.destroy();
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type Backend = Awaited<ReturnType<typeof startCountingBackend>>;

function spec(backend: Backend, version: string): Record<string, unknown> {
  const open = { security: [] as unknown[], responses: { '200': { description: 'ok' } } };
  return {
    swagger: '2.0',
    info: { title: 'holes', version },
    host: 'holes.endpoints.p.cloud.goog',
    'x-google-backend': { address: backend.url },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    paths: {
      '/keyed': { get: { operationId: 'keyed', responses: { '200': { description: 'ok' } } } },
      '/items': {
        post: {
          ...open,
          operationId: 'createItem',
          'x-google-backend': { address: backend.url, deadline: 1.5 },
          consumes: ['application/json'],
          parameters: [{ name: 'item', in: 'body', required: true, schema: { type: 'object' } }],
        },
      },
      // Everything else: open, to the backend (ESPv2's catch-all form).
      '/{rest=**}': {
        get: { ...open, operationId: 'catchAllGet', parameters: [{ name: 'rest', in: 'path', required: true, type: 'string' }] },
        post: { ...open, operationId: 'catchAllPost', parameters: [{ name: 'rest', in: 'path', required: true, type: 'string' }] },
      },
    },
  };
}

const handshake = (p: string, extra = '') =>
  `GET ${p} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

/** The first bytes the gateway answers on a raw connection (an upgrade it tunnels stays open). */
async function firstAnswer(base: string, bytes: string): Promise<string> {
  const s = net.connect(Number(new URL(base).port), '127.0.0.1');
  s.on('error', () => {});
  s.write(bytes);
  const [d] = (await once(s, 'data')) as [Buffer];
  s.destroy();
  return d.toString('latin1');
}

/** A refused upgrade: the gateway answers and closes (a generous bound: a loaded machine is slow, never silent). */
const refusedUpgrade = (base: string, bytes: string) => sendRaw(base, bytes, 60_000);

function accessLines(gw: ChildGateway): Record<string, any>[] {
  return gw.logs.filter((l) => l.message === 'request') as Record<string, any>[];
}

async function metricsTotal(adminUrl: string): Promise<number> {
  const r = await send(adminUrl, '/metrics');
  let sum = 0;
  for (const line of r.body.split('\n')) {
    if (line.startsWith('endpoints_gateway_requests_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

let backend: Backend;
let dir: string;
let specFile: string;

before(async () => {
  backend = await startCountingBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-holes-'));
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify(spec(backend, '1.0.0')));
});

after(async () => {
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the chain in the CLI process', () => {
  let gw: ChildGateway;
  let admin: string;
  before(async () => {
    gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--docs-path', '/docs', '--validate', 'enforce', '--admin-port', '0']);
    const listening = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
    admin = `http://127.0.0.1:${String(listening.adminPort)}`;
  });
  after(async () => {
    gw.child.kill('SIGKILL');
    await gw.exit();
  });

  test("encoded gateway paths are answered by the gateway, never proxied (plain requests and upgrades)", async () => {
    const before = backend.connections();
    const answered: [string, number][] = [
      ['/%68ealthz', 200],
      ['/%72eadyz', 200],
      ['//healthz', 200],
      ['/.endpoints/%63allback', 404],
      ['/.endpoints/sign%5Fout', 404],
      ['/%2Eendpoints/callback?code=x', 404],
      ['/.endpoints/anything-else', 404],
      ['/%64ocs/openapi.json', 200],
      ['/docs/%6Fpenapi.json', 200],
      ['/.well-known/endpoints-gateway/%6Awks.json', 200],
    ];
    for (const [p, status] of answered) {
      const r = await send(gw.url, p);
      assert.equal(r.status, status, `${p}: ${r.body}`);
      if (status === 404) assert.deepEqual(r.json(), { code: 404, message: 'The current request is not defined by this API.' });
      const post = await send(gw.url, p, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      assert.notEqual(post.status, 200, `POST ${p} answered 200: ${post.body}`);
      const up = await refusedUpgrade(gw.url, handshake(p));
      assert.match(up, /^HTTP\/1\.1 404 /, `upgrade ${p}: ${up}`);
    }
    assert.equal(backend.connections(), before, 'a gateway path reached the backend');
    // The control: the same requests elsewhere do reach it.
    assert.equal((await send(gw.url, '/somewhere')).status, 200);
    assert.match(await firstAnswer(gw.url, handshake('/somewhere')), /^HTTP\/1\.1 101 /);
    assert.ok(backend.connections() > before);
    // That tunnel is logged when it closes: before the next test counts lines.
    await gw.waitForLog((l) => l.message === 'request' && (l.httpRequest as Record<string, unknown>)?.status === 101, 60_000);
  });

  test('every exchange is recorded once: upgrades accepted and refused, reserved paths, the docs page', async () => {
    const counted = await metricsTotal(admin);
    const lines = accessLines(gw).length;
    // An upgrade the backend accepts: recorded as 101 when its connection is over.
    const s = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    s.write(handshake('/ws-ok'));
    await once(s, 'data');
    s.destroy();
    // Refused upgrades: no key; not a WebSocket.
    assert.match(await refusedUpgrade(gw.url, handshake('/keyed')), /^HTTP\/1\.1 401 /);
    assert.match(await refusedUpgrade(gw.url, handshake('/ws-h3').replace('Upgrade: websocket', 'Upgrade: h3')), /^HTTP\/1\.1 403 /);
    for (const p of ['/.endpoints/callback?code=secret-code', '/.endpoints/sign_out', '/docs/openapi.json', '/docs/']) await send(gw.url, p);
    const expected = ['/ws-ok', '/keyed', '/ws-h3', '/.endpoints/callback?code=secret-code', '/.endpoints/sign_out', '/docs/openapi.json', '/docs/'];
    for (const url of expected) await gw.waitForLog((l) => l.message === 'request' && (l.httpRequest as Record<string, unknown>)?.requestUrl === url, 60_000);
    const fresh = accessLines(gw).slice(lines);
    // Exactly one line each (an earlier test's tunnel may be logged meanwhile, when it closes).
    for (const url of expected) assert.equal(fresh.filter((l) => l.httpRequest.requestUrl === url).length, 1, url);
    const status = (u: string) => fresh.find((l) => l.httpRequest.requestUrl === u)!.httpRequest.status;
    assert.equal(status('/ws-ok'), 101);
    assert.equal(status('/keyed'), 401);
    assert.equal(status('/ws-h3'), 403);
    assert.equal(status('/.endpoints/sign_out'), 404);
    assert.equal(status('/docs/openapi.json'), 200);
    assert.equal(await metricsTotal(admin), counted + expected.length);
  });

  test('a body read for validation that stalls gets 504 at the deadline, and its connection is closed', async () => {
    const port = Number(new URL(gw.url).port);
    const stalls = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const s = net.connect(port, '127.0.0.1');
        await once(s, 'connect');
        const size = 512 * 1024;
        s.write(`POST /items HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
        s.write(`{"a":"${'x'.repeat(size - 10)}`); // one byte short of the declared length, then silence
        let answer = '';
        s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        s.on('error', () => {});
        await once(s, 'close');
        return answer;
      }),
    );
    for (const a of stalls) {
      assert.match(a, /^HTTP\/1\.1 504 /);
      assert.match(a, /\{"code":504,"message":"upstream request timeout"\}/);
      assert.match(a, /connection: close/i);
    }
    // Still serving, and a complete body passes the same operation.
    const ok = await send(gw.url, '/items', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(ok.status, 200);
  });

  test('a request in flight across a reload is logged with the config id that handled it', async () => {
    const started = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening');
    const firstId = String(started.config_id);
    const inFlight = send(gw.url, '/hold/1');
    await backend.held();
    await writeFile(specFile, stringify(spec(backend, '2.0.0')));
    gw.child.kill('SIGHUP');
    const reloaded = await gw.waitForLog((l) => l.message === 'spec reloaded' && l.previous_config_id === firstId, 30_000);
    const secondId = String(reloaded.config_id);
    assert.notEqual(secondId, firstId);
    backend.release();
    assert.equal((await inFlight).status, 200);
    const line = await gw.waitForLog((l) => l.message === 'request' && (l.httpRequest as Record<string, unknown>)?.requestUrl === '/hold/1', 60_000);
    assert.equal(line.configId, firstId);
    await send(gw.url, '/after-reload');
    const next = await gw.waitForLog((l) => l.message === 'request' && (l.httpRequest as Record<string, unknown>)?.requestUrl === '/after-reload', 60_000);
    assert.equal(next.configId, secondId);
  });
});
