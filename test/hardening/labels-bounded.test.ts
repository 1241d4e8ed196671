// Metric labels stay bounded whatever callers send: X-HTTP-Method-Override
// takes only a method an operation can have (others 400, so a caller-chosen
// name never becomes the request's method), and the method label comes from a
// fixed set (unusual methods Node's parser accepts count as OTHER).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { keyedSpec } from '../helpers/specs.ts';

const FIXED_METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'OTHER']);

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;
let admin: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-labels-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      ...keyedSpec('labels', backend.url),
      paths: {
        '/public/x': { get: { operationId: 'publicX', security: [], responses: { 200: { description: 'ok' } } } },
        '/admin': { get: { operationId: 'admin', responses: { 200: { description: 'ok' } } } },
      },
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--admin-port', '0']);
  admin = gw.adminUrl!;
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A distinct /^[A-Z]+$/ name per i, padded to `len`. */
function hostileMethod(i: number, len: number): string {
  let s = '';
  for (let n = i; ; n = Math.floor(n / 26) - 1) {
    s = String.fromCharCode(65 + (n % 26)) + s;
    if (n < 26) break;
  }
  return 'Z'.repeat(Math.max(0, len - s.length)) + s;
}

async function methodLabels(): Promise<{ size: number; methods: Set<string> }> {
  const r = await send(admin, '/metrics');
  assert.equal(r.status, 200);
  const methods = new Set<string>();
  for (const m of r.body.matchAll(/[{,]method="([^"]*)"/g)) methods.add(m[1]!);
  return { size: Buffer.byteLength(r.body), methods };
}

describe('metric labels are bounded', () => {
  test('2,000 distinct override values: every one 400 in ESP JSON, /metrics stays small', async () => {
    backend.clear();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const targets = ['/nope', '/public/x', '/admin'];
    const statuses = new Map<number, number>();
    const bodies = new Set<string>();
    const one = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const len = i % 200 === 0 ? 50 * 1024 : 200;
        const req = http.request(
          `${gw.url}${targets[i % targets.length]}`,
          { method: i % 2 ? 'GET' : 'POST', agent, headers: { 'x-http-method-override': hostileMethod(i, len) } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => {
              statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
              bodies.add(body);
              resolve();
            });
          },
        );
        req.on('error', reject);
        req.end();
      });
    const N = 2000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) await one(next++);
      }),
    );
    agent.destroy();
    assert.deepEqual([...statuses], [[400, N]]);
    assert.deepEqual([...bodies], [JSON.stringify({ code: 400, message: 'Bad Request' })]);
    assert.equal(backend.requests.length, 0);

    const { size, methods } = await methodLabels();
    assert.ok(size < 200 * 1024, `/metrics is ${size} bytes`);
    for (const m of methods) assert.ok(FIXED_METHODS.has(m), `method label ${JSON.stringify(m.slice(0, 40))}`);
  });

  test('valid overrides still apply, in any case', async () => {
    backend.clear();
    const r = await send(gw.url, '/public/x', { method: 'POST', headers: { 'x-http-method-override': ' get ' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.method, 'GET');
    const r2 = await send(gw.url, '/public/x', { method: 'GET', headers: { 'x-http-method-override': 'DELETE' } });
    assert.equal(r2.status, 405, r2.body);
  });

  test('unusual request methods Node accepts are labelled OTHER', async () => {
    for (const method of ['PROPFIND', 'MKCALENDAR', 'PURGE', 'MKCOL', 'SEARCH', 'UNLOCK']) {
      for (const target of ['/public/x', '/nope']) {
        const raw = await sendRaw(gw.url, `${method} ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
        assert.match(raw, /^HTTP\/1\.1 40[45] /, `${method} ${target}`);
      }
    }
    const { methods } = await methodLabels();
    assert.ok(methods.has('OTHER'), [...methods].join());
    for (const m of methods) assert.ok(FIXED_METHODS.has(m), `method label ${JSON.stringify(m)}`);
  });
});
