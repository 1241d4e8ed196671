// --enable-response-compression against the real CLI and a real backend: Envoy's compressor
// defaults, ESPv2's Accept-Encoding vectors, bodies decoded with node:zlib and curl --compressed
// byte-identical to the backend's, streaming and backpressure through the encoder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);

/** About 10 KB of JSON, the bench's body. */
const JSON_BODY = Buffer.from(JSON.stringify({ items: Array.from({ length: 120 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', 'c'], price: i * 1.5 })) }));
const BIG_TEXT = Buffer.from(randomBytes(12 * 1024 * 1024).toString('base64')); // ~16 MiB, compresses to ~75%

let backend: http.Server;
let dir: string;
let on: ChildGateway;
let off: ChildGateway;
/** The /slow stream: resolved by the test once the client has read the first event. */
let releaseSecond: () => void = () => {};
/** /big: how far the backend got writing, and whether it is waiting for a drain. */
const big = { written: 0, waiting: false, done: false };

before(async () => {
  backend = http.createServer((req, res) => {
    const p = req.url!.split('?')[0];
    switch (p) {
      case '/json':
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': JSON_BODY.length, etag: '"v1"', vary: 'Origin' });
        return res.end(JSON_BODY);
      case '/chunked':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON_BODY.subarray(0, 4000));
        return res.end(JSON_BODY.subarray(4000));
      case '/small':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 29 });
        return res.end('x'.repeat(29));
      case '/exactly30':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 30 });
        return res.end('y'.repeat(30));
      case '/png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': JSON_BODY.length });
        return res.end(JSON_BODY);
      case '/untyped':
        res.writeHead(200, { 'content-length': JSON_BODY.length });
        return res.end(JSON_BODY);
      case '/encoded': {
        const gz = zlib.gzipSync(JSON_BODY);
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
        return res.end(gz);
      }
      case '/no-transform':
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, no-transform', 'content-length': JSON_BODY.length });
        return res.end(JSON_BODY);
      case '/weak':
        res.writeHead(200, { 'content-type': 'application/json', etag: 'W/"w1"' });
        return res.end(JSON_BODY);
      case '/empty':
        res.writeHead(204, { 'content-type': 'application/json' });
        return res.end();
      case '/not-modified':
        res.writeHead(304, { etag: '"v1"' });
        return res.end();
      case '/slow':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('data: first event, long enough to be worth compressing\n\n');
        releaseSecond = () => res.end('data: second event\n\n');
        return;
      case '/big': {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BIG_TEXT.length });
        const step = 64 * 1024;
        const pump = (): void => {
          while (big.written < BIG_TEXT.length) {
            const chunk = BIG_TEXT.subarray(big.written, big.written + step);
            big.written += chunk.length;
            if (!res.write(chunk)) {
              big.waiting = true;
              res.once('drain', () => {
                big.waiting = false;
                pump();
              });
              return;
            }
          }
          big.done = true;
          res.end();
        };
        return pump();
      }
      default:
        res.writeHead(404);
        res.end();
    }
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(tmpdir(), 'egw-compression-'));
  const paths: Record<string, unknown> = {};
  for (const p of ['json', 'chunked', 'small', 'exactly30', 'png', 'untyped', 'encoded', 'no-transform', 'weak', 'empty', 'not-modified', 'slow', 'big']) {
    paths[`/${p}`] = {
      get: { operationId: p.replace(/-/g, '_'), responses: { 200: { description: 'ok' } } },
      head: { operationId: `head_${p.replace(/-/g, '_')}`, responses: { 200: { description: 'ok' } } },
    };
  }
  const spec = path.join(dir, 'endpoint.json');
  await writeFile(spec, JSON.stringify({ swagger: '2.0', info: { title: 'gz', version: '1' }, host: 'gz.endpoints.p.cloud.goog', 'x-google-backend': { address: base }, security: [], paths }));
  const common = ['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--access-log', 'off'];
  [on, off] = await Promise.all([startChildGateway([...common, '--enable-response-compression']), startChildGateway(common)]);
});

after(async () => {
  on?.child.kill('SIGTERM');
  off?.child.kill('SIGTERM');
  await Promise.all([on?.exit(), off?.exit()]);
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await rm(dir, { recursive: true, force: true });
});

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
}

function get(base: string, p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${p}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decode(coding: string | undefined, raw: Buffer): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gunzipSync(raw);
    case 'br':
      return zlib.brotliDecompressSync(raw);
    case 'zstd':
      return zlib.zstdDecompressSync(raw);
    case undefined:
      return raw;
    default:
      throw new Error(`unexpected coding ${coding}`);
  }
}

describe('negotiation (ESPv2 compression_test vectors and RFC 9110 q-values)', () => {
  const vectors: [string, string | undefined][] = [
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip,br', 'gzip'],
    ['gzip;q=0.1,br;q=0.9', 'br'],
    ['gzip;q=0.9,br;q=0.1', 'gzip'],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', 'br'],
    ['*', 'gzip'],
    ['gzip;q=0, br;q=0', undefined],
    ['identity', undefined],
    ['deflate', undefined],
    ['identity;q=1, gzip;q=0.5', undefined],
    ['GZIP', 'gzip'],
  ];
  if (typeof zlib.createZstdCompress === 'function') vectors.push(['zstd', 'zstd']);
  for (const [accept, want] of vectors) {
    test(`Accept-Encoding: ${accept} → ${want ?? 'identity'}, decoded byte-identical`, async () => {
      const r = await get(on.url, '/json', { 'accept-encoding': accept });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], want);
      assert.ok(decode(want, r.raw).equals(JSON_BODY));
      // Compressible: Vary names Accept-Encoding, next to the backend's own, whatever the client accepts.
      assert.equal(r.headers.vary, 'Origin, Accept-Encoding');
      if (want !== undefined) {
        assert.equal(r.headers['content-length'], undefined);
        assert.equal(r.headers.etag, 'W/"v1"');
        assert.ok(r.raw.length < JSON_BODY.length);
      } else {
        assert.equal(r.headers['content-length'], String(JSON_BODY.length));
        assert.equal(r.headers.etag, '"v1"');
      }
    });
  }

  test('no Accept-Encoding: sent as is', async () => {
    const r = await get(on.url, '/json');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.ok(r.raw.equals(JSON_BODY));
  });
});

describe('what is never compressed', () => {
  const cases: [string, string][] = [
    ['/small', 'under 30 bytes by Content-Length'],
    ['/png', 'a content type outside Envoy defaults'],
    ['/no-transform', 'Cache-Control: no-transform'],
  ];
  for (const [p, why] of cases) {
    test(`${p}: ${why}`, async () => {
      const r = await get(on.url, p, { 'accept-encoding': 'gzip, br' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(r.headers.vary, undefined);
      assert.equal(r.raw.length, Number(r.headers['content-length']));
    });
  }

  test('a body the backend encoded already passes untouched', async () => {
    const r = await get(on.url, '/encoded', { 'accept-encoding': 'br' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(r.raw).equals(JSON_BODY));
  });

  test('HEAD, 204 and 304 carry no encoding', async () => {
    const head = await get(on.url, '/json', { 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-encoding'], undefined);
    assert.equal(head.raw.length, 0);
    for (const p of ['/empty', '/not-modified']) {
      const r = await get(on.url, p, { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], undefined, p);
      assert.equal(r.raw.length, 0, p);
    }
  });

  test('exactly 30 bytes, no Content-Type, a chunked body, a weak ETag: compressed', async () => {
    const thirty = await get(on.url, '/exactly30', { 'accept-encoding': 'gzip' });
    assert.equal(thirty.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(thirty.raw).toString(), 'y'.repeat(30));
    const untyped = await get(on.url, '/untyped', { 'accept-encoding': 'br' });
    assert.equal(untyped.headers['content-encoding'], 'br');
    assert.ok(zlib.brotliDecompressSync(untyped.raw).equals(JSON_BODY));
    const chunked = await get(on.url, '/chunked', { 'accept-encoding': 'gzip' });
    assert.equal(chunked.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(chunked.raw).equals(JSON_BODY));
    const weak = await get(on.url, '/weak', { 'accept-encoding': 'gzip' });
    assert.equal(weak.headers.etag, 'W/"w1"');
  });

  test('compression off: the backend response as sent, no Vary added', async () => {
    const r = await get(off.url, '/json', { 'accept-encoding': 'gzip, br' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers.vary, 'Origin');
    assert.equal(r.headers.etag, '"v1"');
    assert.ok(r.raw.equals(JSON_BODY));
  });
});

describe('streaming', () => {
  test('each backend chunk is flushed: the first event decodes before the backend sends the second', async () => {
    const gunzip = zlib.createGunzip();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${on.url}/slow`, { headers: { 'accept-encoding': 'gzip' }, agent: false }, resolve).on('error', reject);
    });
    assert.equal(res.headers['content-encoding'], 'gzip');
    res.pipe(gunzip);
    let text = '';
    gunzip.on('data', (c: Buffer) => (text += c.toString()));
    await waitFor(() => text.includes('first event'), 'the first event, decoded');
    assert.ok(!text.includes('second'));
    releaseSecond();
    await once(gunzip, 'end');
    assert.equal(text, 'data: first event, long enough to be worth compressing\n\ndata: second event\n\n');
  });

  test('a client that stops reading stops the backend; resumed, the body decodes byte-identical', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${on.url}/big`, { headers: { 'accept-encoding': 'gzip' }, agent: false }, resolve).on('error', reject);
    });
    assert.equal(res.headers['content-encoding'], 'gzip');
    res.pause();
    // The backend blocks on a full socket while the client reads nothing: the gateway does not buffer the body.
    await waitFor(() => big.waiting, 'the backend waiting for a drain');
    assert.ok(!big.done);
    assert.ok(big.written < BIG_TEXT.length / 2, `the backend wrote ${big.written} of ${BIG_TEXT.length} bytes to a client reading nothing`);
    const chunks: Buffer[] = [];
    const gunzip = res.pipe(zlib.createGunzip());
    gunzip.on('data', (c: Buffer) => chunks.push(c));
    await once(gunzip, 'end');
    assert.ok(Buffer.concat(chunks).equals(BIG_TEXT));
  });
});

describe('curl --compressed', () => {
  for (const coding of ['gzip', 'br']) {
    test(`curl decodes ${coding} to the backend's bytes`, async () => {
      const out = path.join(dir, `curl-${coding}.json`);
      const { stdout } = await run('curl', ['-sS', '--compressed', '-H', `accept-encoding: ${coding}`, '-o', out, '-w', '%{http_code} %header{content-encoding}', `${on.url}/json`]);
      assert.equal(stdout, `200 ${coding}`);
      const { readFile } = await import('node:fs/promises');
      assert.ok((await readFile(out)).equals(JSON_BODY));
    });
  }
});
