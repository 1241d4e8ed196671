// Backends that break HTTP/2 or proxy rules, through the real CLI process (issue 22, points 4 and 7):
// an h2 stream reset after the response head, an https `protocol: h2` backend that only speaks
// HTTP/1.1, and a backend's Proxy-Authenticate. Each case also checks that the gateway goes on serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { selfSigned } from '../tls/certs.ts';

/** One HTTP/2 frame: 9-byte header and payload (RFC 9113 4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const PREFACE_LENGTH = 24;
/** RST_STREAM codes (RFC 9113 7): Node's http2 takes the last two as a normal end of the body. */
const RESETS = { internal: 2, 'no-error': 0, cancel: 8 } as const;

/**
 * A prior-knowledge h2c backend written frame by frame (no HTTP/2 library would misbehave on cue):
 * every request stream gets `:status 200`, 8 bytes of body, then RST_STREAM with `code` (no END_STREAM).
 */
async function startResettingH2Backend(code: number): Promise<{ port: number; streams: () => number; close(): Promise<void> }> {
  let streams = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.write(frame(4, 0, 0)); // SETTINGS
    let buf = Buffer.alloc(0);
    let off = PREFACE_LENGTH;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= off + 9) {
        const len = buf.readUIntBE(off, 3);
        if (buf.length < off + 9 + len) break;
        const type = buf[off + 3]!;
        const flags = buf[off + 4]!;
        const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
        off += 9 + len;
        if (type === 4 && (flags & 1) === 0) sock.write(frame(4, 1, 0)); // SETTINGS ack
        if (type === 1) {
          streams++;
          // HEADERS (END_HEADERS; HPACK static index 8 is `:status 200`), DATA, then the reset.
          sock.write(frame(1, 4, id, Buffer.from([0x88])));
          sock.write(frame(0, 0, id, Buffer.from('partial-')));
          const payload = Buffer.alloc(4);
          payload.writeUInt32BE(code);
          setTimeout(() => sock.write(frame(3, 0, id, payload)), 30);
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    streams: () => streams,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Raw bytes on a fresh connection; `cut` tells whether the gateway closed it (not our own timer). */
function rawExchange(base: string, bytes: string, timeoutMs = 20_000): Promise<{ text: string; cut: boolean }> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), cut: !timedOut });
    });
  });
}

let dir: string;
let resetting: Awaited<ReturnType<typeof startResettingH2Backend>>[] = [];
let h1Only: https.Server;
let plain: http.Server;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-misconfig-'));
  const { key, cert } = selfSigned(dir);
  for (const code of Object.values(RESETS)) resetting.push(await startResettingH2Backend(code));
  // An HTTPS backend that only speaks HTTP/1.1 (ALPN offers http/1.1 alone).
  h1Only = https.createServer({ key: await readFile(key), cert: await readFile(cert), ALPNProtocols: ['http/1.1'] }, (_req, res) => {
    res.end('{"spoken":"http/1.1"}');
  });
  h1Only.listen(0, '127.0.0.1');
  await once(h1Only, 'listening');
  plain = http.createServer((req, res) => {
    if (req.url === '/proxy-auth') {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="backend-proxy"', 'www-authenticate': 'Bearer', 'content-type': 'text/plain' });
      res.end('proxy auth');
      return;
    }
    res.end('ok');
  });
  plain.listen(0, '127.0.0.1');
  await once(plain, 'listening');
  const h1Port = (h1Only.address() as net.AddressInfo).port;
  const plainBase = `http://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify(
      baseSpec({
        paths: {
          ...Object.fromEntries(
            Object.keys(RESETS).map((name, i) => [
              `/h2-reset-${name}`,
              { get: op(`reset-${name}`, { 'x-google-backend': { address: `http://127.0.0.1:${resetting[i]!.port}/r`, protocol: 'h2' } }) },
            ]),
          ),
          '/h1-only': { get: op('h1only', { 'x-google-backend': { address: `https://127.0.0.1:${h1Port}/x`, protocol: 'h2' } }) },
          '/h1-only-as-h1': { get: op('h1onlyh1', { 'x-google-backend': { address: `https://127.0.0.1:${h1Port}/x` } }) },
          '/proxy-auth': { get: op('proxyauth', { 'x-google-backend': { address: `${plainBase}/proxy-auth` } }) },
          '/ok': { get: op('ok', { 'x-google-backend': { address: `${plainBase}/ok` } }) },
        },
      }),
    ),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none'], { NODE_EXTRA_CA_CERTS: cert });
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  for (const r of resetting) await r.close();
  h1Only?.closeAllConnections();
  h1Only?.close();
  plain?.closeAllConnections();
  plain?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('an HTTP/2 backend that resets its stream after the head', () => {
  for (const name of Object.keys(RESETS)) {
    test(`RST_STREAM ${name}: the client connection is cut (no final chunk, not kept alive), logged and counted; others are served`, async () => {
      for (let i = 0; i < 2; i++) {
        const { text, cut } = await rawExchange(gw.url, `GET /h2-reset-${name} HTTP/1.1\r\nhost: gw.test\r\n\r\n`);
        assert.match(text, /^HTTP\/1\.1 200 /);
        assert.ok(text.includes('partial-'), text);
        assert.ok(!text.endsWith('0\r\n\r\n'), `a reset response must not be completed: ${JSON.stringify(text)}`);
        assert.ok(cut, 'the gateway closed the connection (it was not kept alive)');
      }
      const logged = await gw.waitForLog((l) => l.message === 'upstream error' && l.operation === `reset-${name}`);
      assert.equal(logged.kind, 'reset');
      assert.match(String(logged.err), name === 'internal' ? /INTERNAL_ERROR/ : name === 'cancel' ? /CANCEL/ : /NO_ERROR/);
      assert.equal((await send(gw.url, '/ok')).status, 200);
    });
  }
});

describe('protocol: h2 to an https backend that only speaks HTTP/1.1', () => {
  test("503 with Envoy's reset text after the retry (ESPv2 TestBackendHttpProtocol); never spoken to in HTTP/1.1", async () => {
    const r = await send(gw.url, '/h1-only');
    assert.equal(r.status, 503, r.body);
    assert.deepEqual(r.json(), {
      code: 503,
      message: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection termination',
    });
    const logged = await gw.waitForLog((l) => l.message === 'upstream error' && l.operation === 'h1only' && l.kind === 'h2_not_negotiated');
    assert.ok(logged, 'logged with its own kind');
    // The same backend without `protocol: h2` is fine, and so is everything else.
    const h1 = await send(gw.url, '/h1-only-as-h1');
    assert.equal(h1.status, 200);
    assert.equal(h1.body, '{"spoken":"http/1.1"}');
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });
});

describe("a backend's Proxy-Authenticate", () => {
  test('is not forwarded to the client (RFC 9110 11.7.1); the rest of the answer is', async () => {
    const r = await send(gw.url, '/proxy-auth');
    assert.equal(r.status, 407);
    assert.equal(r.headers['proxy-authenticate'], undefined);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.equal(r.body, 'proxy auth');
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });
});
