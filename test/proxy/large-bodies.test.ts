// Large bodies stream through in both directions with backpressure: with a slow reader on the far side the
// gateway process holds a bounded amount, far less than the body.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';

const SIZE = 100 * 1024 * 1024;
/** RSS growth allowed while SIZE bytes pass (freed Buffers are returned to the OS lazily, so RSS alone is a loose bound). */
const MAX_GROWTH = 100 * 1024 * 1024;
/**
 * How far the writer may run ahead of the slow reader: loopback socket buffers on both
 * hops plus the streams' high-water marks. A gateway that read ahead without backpressure
 * would let the writer finish the whole SIZE first.
 */
const MAX_LEAD = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

let server: http.Server;
let gw: ChildGateway;
let dir: string;
let uploaded = 0;
/** Bytes the writer has handed to its socket and the reader has read, and the most the writer ever ran ahead. */
let written = 0;
let read = 0;
let maxLead = 0;
const onWrite = (n: number): void => {
  written += n;
  maxLead = Math.max(maxLead, written - read);
};
const onRead = (n: number): void => void (read += n);
function resetLead(): void {
  written = read = maxLead = 0;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Samples the gateway's RSS while `work` runs; returns the peak growth over the level before. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  const pid = gw.child.pid!;
  const base = rssOf(pid);
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssOf(pid)) - base;
}

/** Writes SIZE bytes, honouring backpressure. */
async function writeAll(w: NodeJS.WritableStream, onWrite?: (n: number) => void): Promise<void> {
  for (let sent = 0; sent < SIZE; sent += CHUNK.length) {
    const more = w.write(CHUNK);
    onWrite?.(CHUNK.length);
    if (!more) await once(w, 'drain');
  }
}

/** Reads a stream slowly: a pause after every chunk. */
function readSlowly(r: NodeJS.ReadableStream & { pause(): void; resume(): void }, onRead?: (n: number) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    r.on('data', (c: Buffer) => {
      n += c.length;
      onRead?.(c.length);
      r.pause();
      setTimeout(() => r.resume(), 1);
    });
    r.on('end', () => resolve(n));
    r.on('error', reject);
  });
}

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/down') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void writeAll(res, onWrite).then(() => res.end());
      return;
    }
    void readSlowly(req, onRead).then((n) => {
      uploaded = n;
      res.end(String(n));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(tmpdir(), 'egw-large-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify(baseSpec({ 'x-google-backend': { address: base, deadline: 120 }, paths: { '/down': { get: op('down') }, '/up': { post: op('up') } } })));
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('large bodies, slow readers', () => {
  test('100 MB down to a slow client: all of it arrives, the backend never runs far ahead, RSS bounded', async () => {
    resetLead();
    const u = new URL(gw.url);
    let got = 0;
    const growth = await peakGrowth(async () => {
      got = await new Promise<number>((resolve, reject) => {
        http.get({ host: u.hostname, port: u.port, path: '/down', agent: false }, (res) => void readSlowly(res, onRead).then(resolve, reject)).on('error', reject);
      });
    });
    assert.equal(got, SIZE);
    assert.ok(maxLead < MAX_LEAD, `the backend ran ${(maxLead / 1048576).toFixed(1)} MiB ahead of the client`);
    assert.ok(growth < MAX_GROWTH, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });

  test('100 MB up to a slow backend: all of it arrives, the client never runs far ahead, RSS bounded', async () => {
    resetLead();
    const u = new URL(gw.url);
    let answer = '';
    const growth = await peakGrowth(async () => {
      answer = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: u.hostname, port: u.port, path: '/up', method: 'POST', agent: false, headers: { 'content-length': String(SIZE) } }, (res) => {
          let t = '';
          res.on('data', (c) => (t += c));
          res.on('end', () => resolve(t));
        });
        req.on('error', reject);
        void writeAll(req, onWrite).then(() => req.end());
      });
    });
    assert.equal(answer, String(SIZE));
    assert.equal(uploaded, SIZE);
    assert.ok(maxLead < MAX_LEAD, `the client ran ${(maxLead / 1048576).toFixed(1)} MiB ahead of the backend`);
    assert.ok(growth < MAX_GROWTH, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});
