// x-endpoints-max-request-body-bytes: the request body size a route accepts, per operation or for the
// whole spec, replacing --max-request-body-bytes there. The real CLI in front of a real backend.
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
import { runCli } from '../helpers/cli.ts';

let backend: http.Server;
let gw: ChildGateway;
let dir: string;
/** Body sizes the backend read whole, by path. */
const received = new Map<string, number[]>();

function spec(extra: { top?: unknown; small?: unknown } = {}): string {
  const post = (id: string, limit?: unknown) => ({
    post: { operationId: id, responses: { 200: { description: 'ok' } }, ...(limit !== undefined ? { 'x-endpoints-max-request-body-bytes': limit } : {}) },
  });
  return JSON.stringify({
    swagger: '2.0',
    info: { title: 'route limits', version: '1' },
    host: 'limits.endpoints.p.cloud.goog',
    'x-google-backend': { address: `http://127.0.0.1:${(backend.address() as AddressInfo).port}` },
    'x-endpoints-max-request-body-bytes': 'top' in extra ? extra.top : 2000,
    security: [],
    paths: { '/small': post('small', 'small' in extra ? extra.small : 100), '/big': post('big', 5000), '/default': post('default') },
  });
}

before(async () => {
  backend = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      received.set(req.url!, [...(received.get(req.url!) ?? []), size]);
      res.end(`got ${size}`);
    });
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  dir = await mkdtemp(path.join(tmpdir(), 'egw-route-limits-'));
  const file = path.join(dir, 'endpoint.json');
  await writeFile(file, spec());
  // The flag says 1000 bytes; the spec's limits replace it where they are set.
  gw = await startChildGateway(['--spec', file, '--keys', 'none', '--backend-auth', 'none', '--access-log', 'off', '--max-request-body-bytes', '1000']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await rm(dir, { recursive: true, force: true });
});

/** A chunked POST (no Content-Length): the limit must hold as the body streams. */
function chunked(p: string, parts: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${gw.url}${p}`, { method: 'POST', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    let i = 0;
    const next = (): void => (i === parts.length ? void req.end() : void req.write(parts[i++], next));
    next();
  });
}

describe('x-endpoints-max-request-body-bytes', () => {
  test("an operation's own limit: one byte over is 413 in ESP's JSON and never forwarded; the limit itself passes", async () => {
    const over = await send(gw.url, '/small', { method: 'POST', body: Buffer.alloc(101, 0x61) });
    assert.equal(over.status, 413);
    assert.deepEqual(over.json(), { code: 413, message: 'Payload Too Large' });
    assert.ok(!(received.get('/small') ?? []).includes(101));
    const at = await send(gw.url, '/small', { method: 'POST', body: Buffer.alloc(100, 0x61) });
    assert.equal(at.status, 200);
    assert.equal(at.body, 'got 100');
  });

  test('it holds for a streamed body too', async () => {
    const r = await chunked('/small', [Buffer.alloc(60, 0x62), Buffer.alloc(60, 0x62)]);
    assert.equal(r.status, 413);
    assert.deepEqual(JSON.parse(r.body), { code: 413, message: 'Payload Too Large' });
    assert.ok(!(received.get('/small') ?? []).includes(120));
  });

  test("an operation without one takes the spec's top-level limit, which replaces the flag's", async () => {
    assert.equal((await send(gw.url, '/default', { method: 'POST', body: Buffer.alloc(1500, 0x63) })).status, 200, 'over the flag (1000), within the spec (2000)');
    assert.equal((await send(gw.url, '/default', { method: 'POST', body: Buffer.alloc(2001, 0x63) })).status, 413);
  });

  test('a route may accept more than the rest', async () => {
    assert.equal((await send(gw.url, '/big', { method: 'POST', body: Buffer.alloc(4000, 0x64) })).status, 200);
    assert.equal((await send(gw.url, '/big', { method: 'POST', body: Buffer.alloc(5001, 0x64) })).status, 413);
  });

  test('a value that is not a whole number of bytes is a spec problem, with its place', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, spec({ top: '2MB', small: -1 }));
    const r = await runCli(['validate', '--spec', bad]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /x-endpoints-max-request-body-bytes: must be a whole number of bytes \(0 or more\), not "2MB"/);
    assert.match(out, /paths\["\/small"\]\.post\.x-endpoints-max-request-body-bytes: must be a whole number of bytes \(0 or more\), not -1/);
  });
});
