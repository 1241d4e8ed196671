// Request body limits against the real CLI: --max-request-body-bytes refuses 413 in ESP's JSON form,
// by Content-Length and on streamed (chunked) bodies; --envoy-connection-buffer-limit-bytes bounds
// what is kept for a retry and what --validate reads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

let backend: http.Server;
let dir: string;
/** --max-request-body-bytes 1000 */
let limited: ChildGateway;
/** --envoy-connection-buffer-limit-bytes 2048, --validate enforce */
let buffered: ChildGateway;
/** Defaults. */
let plain: ChildGateway;
/** Bodies the backend read whole, by path; tries by path. */
const received = new Map<string, number[]>();
const tries = new Map<string, number>();
/** Requests whose body the backend saw break off. */
let aborted = 0;
/** Called with the bytes read so far as the backend reads a body of /upload. */
let onUploadData: ((size: number) => void) | undefined;

before(async () => {
  backend = http.createServer((req, res) => {
    const p = req.url!.split('?')[0]!;
    const n = (tries.get(p) ?? 0) + 1;
    tries.set(p, n);
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (p === '/upload') onUploadData?.(size);
    });
    req.on('aborted', () => aborted++);
    req.on('end', () => {
      // The first try of /flaky/*: the whole body read, then the connection reset before any answer.
      if (p.startsWith('/flaky/') && n === 1) return req.socket.resetAndDestroy();
      received.set(p, [...(received.get(p) ?? []), size]);
      res.end(`got ${size}`);
    });
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  dir = await mkdtemp(path.join(tmpdir(), 'egw-body-limits-'));
  const spec = path.join(dir, 'endpoint.json');
  const post = (id: string, extra: Record<string, unknown> = {}) => ({ post: { operationId: id, responses: { 200: { description: 'ok' } }, ...extra } });
  await writeFile(
    spec,
    JSON.stringify({
      swagger: '2.0',
      info: { title: 'bodies', version: '1' },
      host: 'bodies.endpoints.p.cloud.goog',
      'x-google-backend': { address: `http://127.0.0.1:${(backend.address() as AddressInfo).port}` },
      security: [],
      paths: {
        '/upload': post('upload'),
        '/flaky/{n}': post('flaky', { parameters: [{ name: 'n', in: 'path', required: true, type: 'string' }] }),
        '/typed': post('typed', { consumes: ['application/json'], parameters: [{ name: 'b', in: 'body', required: true, schema: { type: 'object' } }] }),
      },
    }),
  );
  const common = ['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--access-log', 'off'];
  [limited, buffered, plain] = await Promise.all([
    startChildGateway([...common, '--max-request-body-bytes', '1000']),
    startChildGateway([...common, '--envoy-connection-buffer-limit-bytes', '2048', '--validate', 'enforce']),
    startChildGateway(common),
  ]);
});

after(async () => {
  for (const g of [limited, buffered, plain]) g?.child.kill('SIGTERM');
  await Promise.all([limited?.exit(), buffered?.exit(), plain?.exit()]);
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await rm(dir, { recursive: true, force: true });
});

/**
 * A chunked POST written in `parts`, each one only once the previous has left (and, with `reached`,
 * once that promise resolves: the test waits for the backend to have read the part before it).
 */
function chunkedPost(base: string, p: string, parts: Buffer[], reached?: (i: number) => Promise<void>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${p}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    let i = 0;
    const next = (): void => {
      if (i === parts.length) return void req.end();
      const part = parts[i++]!;
      req.write(part, () => (reached && i < parts.length ? reached(i).then(next, reject) : next()));
    };
    next();
  });
}

describe('--max-request-body-bytes', () => {
  test('a Content-Length over the limit: 413 in ESP JSON, nothing forwarded', async () => {
    const before = tries.get('/upload') ?? 0;
    const r = await send(limited.url, '/upload', { method: 'POST', body: Buffer.alloc(1001, 0x61) });
    assert.equal(r.status, 413);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(r.json(), { code: 413, message: 'Payload Too Large' });
    assert.equal(tries.get('/upload') ?? 0, before);
  });

  test('exactly the limit passes whole', async () => {
    const r = await send(limited.url, '/upload', { method: 'POST', body: Buffer.alloc(1000, 0x61) });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got 1000');
  });

  test('a chunked body that grows past the limit: 413 in ESP JSON, the backend sees its request break off', async () => {
    const abortedBefore = aborted;
    // The second part leaves only once the backend has read the first: the request has reached it, so
    // its breaking off is an event the test can wait for, whatever the machine's load.
    const firstRead = new Promise<void>((resolve) => {
      onUploadData = (size) => {
        if (size >= 600) {
          onUploadData = undefined;
          resolve();
        }
      };
    });
    const r = await chunkedPost(limited.url, '/upload', [Buffer.alloc(600, 0x62), Buffer.alloc(600, 0x62)], () => firstRead);
    assert.equal(r.status, 413);
    assert.deepEqual(JSON.parse(r.body), { code: 413, message: 'Payload Too Large' });
    await waitFor(() => aborted > abortedBefore, 'the backend request broken off');
    assert.ok(!(received.get('/upload') ?? []).includes(1200));
  });

  test('a chunked body within the limit passes whole', async () => {
    const r = await chunkedPost(limited.url, '/upload', [Buffer.alloc(500, 0x63), Buffer.alloc(500, 0x63)]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got 1000');
  });

  test('no limit by default', async () => {
    const r = await send(plain.url, '/upload', { method: 'POST', body: Buffer.alloc(3 * 1024 * 1024, 0x61) });
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${3 * 1024 * 1024}`);
  });
});

describe('--envoy-connection-buffer-limit-bytes', () => {
  test('a streamed body within it is kept: the try reset after reading it is retried with the same bytes', async () => {
    const r = await chunkedPost(buffered.url, '/flaky/small', [Buffer.alloc(1000, 0x61), Buffer.alloc(1000, 0x61)]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got 2000');
    assert.equal(tries.get('/flaky/small'), 2);
  });

  test('a streamed body past it is not kept: no retry', async () => {
    const r = await chunkedPost(buffered.url, '/flaky/big', [Buffer.alloc(1500, 0x61), Buffer.alloc(1500, 0x61)]);
    assert.equal(r.status, 503);
    assert.equal(tries.get('/flaky/big'), 1);
  });

  test('by default (1 MiB, Envoy): a 512 KiB streamed body is retried', async () => {
    const parts = Array.from({ length: 8 }, () => Buffer.alloc(64 * 1024, 0x61));
    const r = await chunkedPost(plain.url, '/flaky/default', parts);
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${512 * 1024}`);
    assert.equal(tries.get('/flaky/default'), 2);
  });

  test('--validate reads bodies up to it: past it, 413 too large to validate', async () => {
    const small = await send(buffered.url, '/typed', { method: 'POST', body: JSON.stringify({ a: 'x'.repeat(1000) }), headers: { 'content-type': 'application/json' } });
    assert.equal(small.status, 200);
    const big = await send(buffered.url, '/typed', { method: 'POST', body: JSON.stringify({ a: 'x'.repeat(3000) }), headers: { 'content-type': 'application/json' } });
    assert.equal(big.status, 413);
    assert.match(big.json<{ message: string }>().message, /larger than 2048 bytes, too large to validate/);
  });

  test('a bad value stops the start', async () => {
    const { runCli } = await import('../helpers/cli.ts');
    const r = await runCli(['serve', '--spec', path.join(dir, 'endpoint.json'), '--keys', 'none', '--port', '0', '--envoy-connection-buffer-limit-bytes', '0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--envoy-connection-buffer-limit-bytes must be a whole number from 1/);
  });
});
