// ESPv2's backend retries (tests/integration_test/backend_retry_test): which failures are retried, how often,
// with which bodies, and the answer once retries are exhausted. The real CLI process, raw-socket backends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { send } from '../helpers/http.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { ok, startRawBackend, type RawBackend } from './raw-backend.ts';

/** Tries per case, counted by the backend. */
const tries = new Map<string, number>();
function count(name: string): number {
  const n = (tries.get(name) ?? 0) + 1;
  tries.set(name, n);
  return n;
}

/** Reads the request body the head announced (Content-Length) off the socket, then calls done with it. */
function readBody(s: net.Socket, head: string, rest: string, done: (body: string) => void): void {
  const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
  let body = rest;
  const take = (c: Buffer): void => {
    body += c.toString('latin1');
    if (body.length >= len) {
      s.off('data', take);
      done(body);
    }
  };
  if (body.length >= len) done(body);
  else s.on('data', take);
}

let raw: RawBackend;
let gw: ChildGateway;
let dir: string;
let bigTried = 0;

before(async () => {
  raw = await startRawBackend({
    'reset-first': (s) => (count('reset-first') === 1 ? s.resetAndDestroy() : ok(s, 'second try')),
    'reset-first-post': (s, head, rest) => {
      if (count('reset-first-post') === 1) s.resetAndDestroy();
      else readBody(s, head, rest, (body) => ok(s, `got ${body}`));
    },
    'always-reset': (s) => {
      count('always-reset');
      s.resetAndDestroy();
    },
    'reset-after-big-body': (s) => {
      bigTried++;
      let got = 0;
      s.on('data', (c: Buffer) => {
        got += c.length;
        // Only once the gateway has streamed well past its 64 KiB replay bound.
        if (got > 200 * 1024) s.resetAndDestroy();
      });
    },
    'hang-first': (s) => {
      if (count('hang-first') > 1) ok(s, 'second try');
    },
    '503-first': (s) =>
      count('503-first') === 1 ? s.write('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy') : ok(s, 'second try'),
    '403-always': (s) => {
      count('403-always');
      s.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno');
    },
  });
  dir = await mkdtemp(path.join(tmpdir(), 'egw-retry-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify(
      baseSpec({
        'x-google-backend': { address: raw.url },
        paths: {
          '/r/{name}': { parameters: [{ name: 'name', in: 'path', required: true, type: 'string' }], get: op('get'), post: op('post') },
          '/dead': { get: op('dead', { 'x-google-backend': { address: CLOSED_URL } }) },
        },
      }),
    ),
  );
  gw = await startChildGateway([
    '--spec', specFile, '--backend-auth', 'none', '--keys', 'none',
    // The defaults plus a status policy and a value ESPv2 does not know (ignored with a warning).
    '--backend-retry-ons', 'reset,connect-failure,refused-stream,5xx,this-is-random-retryOn',
    '--backend-per-try-timeout', '300ms',
  ]);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await raw?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('retries', () => {
  test('an unknown retry-on value is ignored with a warning at start', async () => {
    const w = await gw.waitForLog((l) => l.message === 'unknown --backend-retry-ons value ignored');
    assert.equal(w.value, 'this-is-random-retryOn');
  });

  test('GET: the first connection is reset, the retry answers: exactly 2 tries, 200', async () => {
    const r = await send(gw.url, '/r/reset-first');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'second try');
    assert.equal(tries.get('reset-first'), 2);
  });

  test('POST with a small JSON body: replayed on the retry, exactly 2 tries, 200', async () => {
    const body = JSON.stringify({ message: 'hello' });
    const r = await send(gw.url, '/r/reset-first-post', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${body}`);
    assert.equal(tries.get('reset-first-post'), 2);
  });

  test('retries exhausted: 503 with ESPv2 text, 2 tries in all (--backend-retry-num 1)', async () => {
    const r = await send(gw.url, '/r/always-reset');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json(), {
      code: 503,
      message: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection termination',
    });
    assert.equal(tries.get('always-reset'), 2);
  });

  test('connect failure: retried, then the Envoy text with the errno', async () => {
    const r = await send(gw.url, '/dead');
    assert.equal(r.status, 503);
    assert.equal(
      r.json<{ message: string }>().message,
      'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111',
    );
  });

  test('a body already streamed past the replay bound is not retried', async () => {
    const u = new URL(gw.url);
    const status = await new Promise<number>((resolve) => {
      const req = http.request({ host: u.hostname, port: u.port, path: '/r/reset-after-big-body', method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => resolve(-1));
      // Chunked, 1 MiB in 16 KiB writes.
      const chunk = Buffer.alloc(16 * 1024, 7);
      for (let i = 0; i < 64; i++) req.write(chunk);
      req.end();
    });
    assert.equal(status, 503);
    assert.equal(bigTried, 1);
  });

  test('--backend-per-try-timeout cuts the try that hangs; the retry answers', async () => {
    const t0 = Date.now();
    const r = await send(gw.url, '/r/hang-first');
    const took = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'second try');
    assert.equal(tries.get('hang-first'), 2);
    // Cut at the 300 ms per-try timeout, well before the 15 s route deadline that would cut it otherwise.
    assert.ok(took >= 280 && took < 10_000, `answered after ${took} ms`);
  });

  test('5xx (when listed): a 503 is retried and never reaches the client', async () => {
    const r = await send(gw.url, '/r/503-first');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'second try');
    assert.equal(tries.get('503-first'), 2);
  });

  test('5xx does not cover a 403: one try, forwarded as is', async () => {
    const r = await send(gw.url, '/r/403-always');
    assert.equal(r.status, 403);
    assert.equal(r.body, 'no');
    assert.equal(tries.get('403-always'), 1);
  });
});
