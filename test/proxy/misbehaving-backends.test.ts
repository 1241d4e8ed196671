// A backend can never crash the gateway: each misbehaviour, sent as raw bytes, against the real CLI process.
// After each case the process must still be alive and serving another client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.ts';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { ok, startRawBackend, type RawBackend } from './raw-backend.ts';

const CUT = (s: import('node:net').Socket) => s.destroy();

let raw: RawBackend;
let gw: ChildGateway;
let dir: string;
/** The backend side of reset-mid-body, reset by the test once the client has the partial body. */
let midBody: import('node:net').Socket | undefined;

before(async () => {
  raw = await startRawBackend({
    good: (s) => ok(s),
    'reason-control-byte': (s) => s.write('HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok'),
    'trailer-on-length': (s) => s.write('HTTP/1.1 200 OK\r\ntrailer: x-sum\r\ncontent-length: 2\r\n\r\nok'),
    'status-99': (s) => s.end('HTTP/1.1 099 Low\r\ncontent-length: 2\r\n\r\nok'),
    'status-600': (s) => s.end('HTTP/1.1 600 High\r\ncontent-length: 2\r\n\r\nok'),
    'status-garbage': (s) => s.end('HTTP/1.1 2x0 What\r\ncontent-length: 2\r\n\r\nok'),
    'not-http': (s) => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'),
    'header-nul': (s) => s.end('HTTP/1.1 200 OK\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\nok'),
    'header-del': (s) => s.end('HTTP/1.1 200 OK\r\nx-bad: a\x7fb\r\ncontent-length: 2\r\n\r\nok'),
    'header-bare-cr': (s) => s.end('HTTP/1.1 200 OK\r\nx-bad: a\rb\r\ncontent-length: 2\r\n\r\nok'),
    'early-hints': (s) => s.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    'unsolicited-100': (s) => s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    'unsolicited-101': (s) => s.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'),
    'reset-mid-headers': (s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-le');
      setTimeout(() => s.resetAndDestroy(), 20);
    },
    'close-before-answer': CUT,
    'reset-mid-body': (s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      // Reset by the test once the gateway has passed 'partial' on: a reset that arrived
      // first would discard the unread bytes, and the gateway would rightly see no answer at all.
      midBody = s;
    },
    'big-headers': (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(40 * 1024)}\r\ncontent-length: 2\r\n\r\nok`),
    'huge-headers': (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\ncontent-length: 2\r\n\r\nok`),
    'chunked-trailers': (s) =>
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n2\r\nok\r\n0\r\nx-sum: 42\r\n\r\n'),
    'bad-trailer': (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-sum: a\x7fb\r\n\r\n'),
  });
  dir = await mkdtemp(path.join(tmpdir(), 'egw-misbehave-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify(baseSpec({ 'x-google-backend': { address: raw.url }, paths: { '/case/{name}': { parameters: [{ name: 'name', in: 'path', required: true, type: 'string' }], get: op('get'), post: op('post') } } })),
  );
  // No retries: each case is one try, so what the client sees is what that one answer caused.
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--backend-retry-num', '0']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await raw?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The process is alive and another client's request is served. */
async function stillServing(): Promise<void> {
  assert.equal(gw.child.exitCode, null, `gateway exited; stderr: ${gw.stderr()}`);
  const r = await send(gw.url, '/case/good');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
}

const PROTOCOL = 'upstream connect error or disconnect/reset before headers. reset reason: protocol error';

async function expectJson(casePath: string, status: number, message: string | RegExp): Promise<void> {
  const r = await send(gw.url, casePath);
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  const body = r.json<{ code: number; message: string }>();
  assert.equal(body.code, status);
  if (typeof message === 'string') assert.equal(body.message, message);
  else assert.match(body.message, message);
  await stillServing();
}

describe('requests the old engine crashed on', () => {
  test('a request carrying a Trailer header is forwarded without it', async () => {
    // Raw bytes: Node's own client refuses to send Trailer on a request without a chunked body.
    const reply = await sendRaw(gw.url, 'GET /case/good HTTP/1.1\r\nhost: x\r\ntrailer: x-sum\r\nconnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(reply.endsWith('\r\n\r\nok'), reply);
    assert.ok(!/\r\ntrailer:/i.test(raw.heads.get('good')!.at(-1)!), 'Trailer is hop-by-hop');
    await stillServing();
  });

  test('a chunked POST with a Trailer header and trailers', async () => {
    const reply = await sendRaw(
      gw.url,
      'POST /case/good HTTP/1.1\r\nhost: x\r\ntrailer: x-sum\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n2\r\nhi\r\n0\r\nx-sum: 1\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    await stillServing();
  });
});

describe('backend responses the old engine crashed on', () => {
  test('a control byte in the reason phrase: the reason is not forwarded', async () => {
    const r = await send(gw.url, '/case/reason-control-byte');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    await stillServing();
  });

  test('a Trailer header on a Content-Length response is dropped', async () => {
    const r = await send(gw.url, '/case/trailer-on-length');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(r.headers.trailer, undefined);
    await stillServing();
  });

  test('a status below 100: 502', () => expectJson('/case/status-99', 502, PROTOCOL));
});

describe('other bad responses: 502 in ESP JSON', () => {
  test('a status above 599', () => expectJson('/case/status-600', 502, PROTOCOL));
  test('a status line that is not one', () => expectJson('/case/status-garbage', 502, PROTOCOL));
  test('not HTTP at all', () => expectJson('/case/not-http', 502, PROTOCOL));
  test('a NUL in a header value', () => expectJson('/case/header-nul', 502, PROTOCOL));
  test('a DEL in a header value (parsed by undici, refused by Node)', () => expectJson('/case/header-del', 502, PROTOCOL));
  test('a bare CR in a header value', () => expectJson('/case/header-bare-cr', 502, PROTOCOL));
  // undici refuses a 100 it did not ask for (it never sends Expect); Envoy would drop it. A 502, never a crash.
  test('a 100 Continue nobody asked for', () => expectJson('/case/unsolicited-100', 502, PROTOCOL));
  test('a 101 to a request that asked for no upgrade', () => expectJson('/case/unsolicited-101', 502, PROTOCOL));
  test('response headers past 60 KiB', () => expectJson('/case/huge-headers', 502, PROTOCOL));
});

describe('resets: 503 before headers, a cut connection after', () => {
  test('reset in the middle of the response head', () =>
    expectJson('/case/reset-mid-headers', 503, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination'));

  test('connection closed before any answer', () =>
    expectJson('/case/close-before-answer', 503, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination'));

  test('reset in the middle of the body: the client connection is cut, not completed', async () => {
    const u = new URL(gw.url);
    const client = net.connect(Number(u.port), u.hostname);
    let reply = '';
    client.on('data', (c: Buffer) => {
      reply += c.toString('latin1');
      if (reply.endsWith('partial')) midBody?.resetAndDestroy();
    });
    client.on('error', () => undefined);
    client.write('GET /case/reset-mid-body HTTP/1.1\r\nhost: x\r\n\r\n');
    await once(client, 'close');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /content-length: 100/i);
    assert.ok(reply.endsWith('partial'), 'the body is cut where the backend stopped');
    await stillServing();
  });
});

describe('well-formed but unusual responses', () => {
  test('103 Early Hints is not forwarded; the final 200 is', async () => {
    const r = await send(gw.url, '/case/early-hints');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    await stillServing();
  });

  test('40 KiB of response headers pass (Envoy allows 60 KiB; undici defaults to 16)', async () => {
    // Raw socket: Node's client would refuse more than 16 KiB itself.
    const reply = await sendRaw(gw.url, 'GET /case/big-headers HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(reply.includes(`\r\nx-big: ${'a'.repeat(40 * 1024)}\r\n`));
    assert.ok(reply.endsWith('\r\n\r\nok'));
    await stillServing();
  });

  test('trailers of a chunked response are forwarded', async () => {
    const reply = await sendRaw(gw.url, 'GET /case/chunked-trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /transfer-encoding: chunked/i);
    assert.match(reply, /\r\n0\r\nx-sum: 42\r\n\r\n$/);
    assert.ok(!/\r\ntrailer:/i.test(reply.slice(0, reply.indexOf('\r\n\r\n'))), 'the Trailer header itself is hop-by-hop');
    await stillServing();
  });

  test('a trailer the parser refuses: the response is cut after its body, never a crash', async () => {
    const reply = await sendRaw(gw.url, 'GET /case/bad-trailer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(reply.endsWith('\r\n2\r\nok\r\n'), 'no last chunk: the client can tell the response is incomplete');
    await stillServing();
  });
});

describe('every failure is logged with a bounded kind', () => {
  test('the upstream errors above were logged', async () => {
    // Log lines are written in batches (src/observability/logger.ts): wait for them, as a reader of the log would.
    const kinds = () => new Set(gw.logs.filter((l) => l.message === 'upstream error').map((l) => l.kind));
    const expected = ['bad_status', 'protocol', 'headers_overflow', 'reset'];
    await waitFor(() => expected.every((k) => kinds().has(k)), `upstream errors of kinds ${expected.join(', ')} (saw ${[...kinds()].join(',')})`).catch(() => undefined);
    for (const k of expected) assert.ok(kinds().has(k), `kind ${k} logged; saw ${[...kinds()].join(',')}`);
  });
});
