// What an on-call engineer follows a request by: its id (caller's, trace-derived or generated) on the
// backend, on the client and in every log line of it; the response size; who called (project, key, user).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { startTestIssuer, type TestIssuer } from '../jwt/issuer.ts';
import { runCli } from '../helpers/cli.ts';

const SERVICE = 'reqlog.endpoints.p.cloud.goog';
let dir: string;
let backend: TestBackend;
let issuer: TestIssuer;
let gw: ChildGateway;
let key: string;
/** Answers without Content-Length (chunked), in two writes. */
let chunked: Server;
const CHUNKS = ['{"part":1,', '"rest":"' + 'x'.repeat(3000) + '"}'];

const ok = { 200: { description: 'ok' } };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-operator-reqlog-'));
  backend = await startTestBackend();
  issuer = await startTestIssuer();
  await issuer.addKey('idp');
  chunked = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(CHUNKS[0]);
    setTimeout(() => res.end(CHUNKS[1]), 5);
  }).listen(0, '127.0.0.1');
  await new Promise((r) => chunked.once('listening', r));
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'reqlog', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: {
        api_key: { type: 'apiKey', name: 'key', in: 'query' },
        idp: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': issuer.iss('idp'), 'x-google-jwks_uri': issuer.jwksUri('idp'), 'x-google-audiences': 'reqlog-aud' },
      },
      security: [{ api_key: [] }],
      paths: {
        '/keyed': { get: { operationId: 'keyed', responses: ok } },
        '/user': { get: { operationId: 'user', security: [{ idp: [], api_key: [] }], responses: ok } },
        '/open': { get: { operationId: 'open', security: [], responses: ok } },
        '/chunked': {
          get: {
            operationId: 'chunked',
            security: [],
            'x-google-backend': { address: `http://127.0.0.1:${(chunked.address() as AddressInfo).port}/c` },
            responses: ok,
          },
        },
      },
    }),
  );
  const store = path.join(dir, 'keys.yaml');
  const made = await runCli(['keys', 'create', '--store', store, '--project', '123456789012', '--name', 'ops']);
  assert.equal(made.code, 0, made.stderr);
  key = made.stdout.trim();
  gw = await startChildGateway(['--spec', spec, '--keys', `file:${store}`, '--backend-auth', 'none']);
});
after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await issuer?.close();
  await new Promise((r) => chunked.close(r));
  await rm(dir, { recursive: true, force: true });
});

/** The access-log line of the request with this id. */
const accessLine = (id: string) => gw.waitForLog((l) => l.message === 'request' && l.requestId === id);

describe('request ids', () => {
  test("the caller's X-Request-Id reaches the backend, comes back, and is in the access-log line", async () => {
    const r = await send(gw.url, '/open', { headers: { 'x-request-id': 'caller-chose-this-1' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-request-id'], 'caller-chose-this-1');
    assert.equal(backend.last()!.headers['x-request-id'], 'caller-chose-this-1');
    const line = await accessLine('caller-chose-this-1');
    assert.equal(line.operation, 'open');
  });

  test('without one: derived from X-Cloud-Trace-Context, else traceparent, else generated', async () => {
    const trace = '105445aa7843bc8bf206b12000100000';
    const cloud = await send(gw.url, '/open', { headers: { 'x-cloud-trace-context': `${trace}/123456;o=1` } });
    assert.equal(cloud.headers['x-request-id'], `${trace}-123456`);
    assert.equal(backend.last()!.headers['x-request-id'], `${trace}-123456`);
    const w3c = await send(gw.url, '/open', { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
    assert.equal(w3c.headers['x-request-id'], `${trace}-00f067aa0ba902b7`);
    const a = await send(gw.url, '/open');
    const b = await send(gw.url, '/open');
    assert.match(String(a.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
    await accessLine(String(a.headers['x-request-id']));
    // A caller's id that could not go into a log line or a header as is gets replaced.
    const odd = await send(gw.url, '/open', { headers: { 'x-request-id': 'has spaces in it' } });
    assert.match(String(odd.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    // Nor does one that carries an API key: the access log never holds a key.
    const keyed = await send(gw.url, '/open', { headers: { 'x-request-id': `id-${key}` } });
    assert.match(String(keyed.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    await accessLine(String(keyed.headers['x-request-id']));
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes(key)), 'no line holds the key');
  });

  test("the gateway's own answers carry it too, with their real size in the access log", async () => {
    const cases: [string, number][] = [
      ['/nowhere', 404],
      ['/keyed', 401],
      ['/keyed?key=AIzaSyNotAKeyOfThisStore0000000000000', 400],
    ];
    for (const [p, status] of cases) {
      const id = `own-answer-${status}`;
      const r = await send(gw.url, p, { headers: { 'x-request-id': id } });
      assert.equal(r.status, status);
      assert.equal(r.headers['x-request-id'], id);
      const line = await accessLine(id);
      const http = line.httpRequest as Record<string, unknown>;
      assert.equal(http.status, status);
      assert.equal(http.responseSize, String(Buffer.byteLength(r.body)), `${p}: responseSize`);
      assert.ok(Buffer.byteLength(r.body) > 0);
    }
    const post = await send(gw.url, '/open', { method: 'POST', headers: { 'x-request-id': 'own-answer-405' } });
    assert.equal(post.status, 405);
    const line405 = (await accessLine('own-answer-405')).httpRequest as Record<string, unknown>;
    assert.equal(line405.responseSize, String(Buffer.byteLength(post.body)));
  });

  test('a chunked backend response is logged with the bytes relayed', async () => {
    const r = await send(gw.url, '/chunked', { headers: { 'x-request-id': 'chunked-size' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], undefined, 'the test needs a response without Content-Length');
    assert.equal(r.body, CHUNKS.join(''));
    const http = (await accessLine('chunked-size')).httpRequest as Record<string, unknown>;
    assert.equal(http.responseSize, String(Buffer.byteLength(CHUNKS.join(''))));
  });

  test('an upstream error log line carries the request id', async () => {
    // A backend that is gone: the gateway logs the failure for this request.
    const spec = path.join(dir, 'gone.yaml');
    await writeFile(
      spec,
      stringify({
        swagger: '2.0',
        info: { title: 'gone', version: '1' },
        host: 'gone.endpoints.p.cloud.goog',
        'x-google-backend': { address: CLOSED_URL },
        paths: { '/x': { get: { operationId: 'x', responses: ok } } },
      }),
    );
    const g = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none']);
    try {
      const r = await send(g.url, '/x', { headers: { 'x-request-id': 'upstream-gone-1' } });
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-request-id'], 'upstream-gone-1');
      const err = await g.waitForLog((l) => l.message === 'upstream error');
      assert.equal(err.requestId, 'upstream-gone-1');
      const access = await g.waitForLog((l) => l.message === 'request');
      assert.equal(access.requestId, 'upstream-gone-1');
      // The gateway's own 503 body, counted as sent.
      assert.equal((access.httpRequest as Record<string, unknown>).responseSize, String(Buffer.byteLength(r.body)));
    } finally {
      g.child.kill('SIGTERM');
      await g.exit();
    }
  });

  test('a contract violation log line (request or response) carries the request id', async () => {
    const spec = path.join(dir, 'contract.yaml');
    await writeFile(
      spec,
      stringify({
        swagger: '2.0',
        info: { title: 'contract', version: '1' },
        host: 'contract.endpoints.p.cloud.goog',
        'x-google-backend': { address: backend.url },
        paths: {
          '/n': {
            get: {
              operationId: 'n',
              parameters: [{ name: 'n', in: 'query', required: true, type: 'integer' }],
              // The test backend answers a JSON object: never a string.
              responses: { 200: { description: 'ok', schema: { type: 'string' } } },
            },
          },
        },
      }),
    );
    const g = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--validate', 'report']);
    try {
      // report mode passes the bad request on, so its backend answer breaks the contract too.
      await send(g.url, '/n?n=abc', { headers: { 'x-request-id': 'contract-1' } });
      const req = await g.waitForLog((l) => l.message === 'contract violation' && String(l.kind).startsWith('request'));
      assert.equal(req.requestId, 'contract-1');
      const res = await g.waitForLog((l) => l.message === 'contract violation' && String(l.kind).startsWith('response'));
      assert.equal(res.requestId, 'contract-1');
    } finally {
      g.child.kill('SIGTERM');
      await g.exit();
    }
  });
});

describe('who called', () => {
  test('the access log has the consumer project, the key fingerprint and the verified end user', async () => {
    const token = await issuer.mint('idp', { aud: 'reqlog-aud', sub: 'user-42' });
    const r = await send(gw.url, `/user?key=${key}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'who-1' } });
    assert.equal(r.status, 200, r.body);
    const line = await accessLine('who-1');
    assert.equal(line.consumerProject, '123456789012');
    assert.match(String(line.keyFingerprint), /^[0-9a-f]{12}$/);
    assert.equal(line.endUser, 'user-42');
    assert.ok(!JSON.stringify(line).includes(key), 'never the key');
    // A key alone: no end user.
    await send(gw.url, `/keyed?key=${key}`, { headers: { 'x-request-id': 'who-2' } });
    const keyOnly = await accessLine('who-2');
    assert.equal(keyOnly.consumerProject, '123456789012');
    assert.equal(keyOnly.endUser, undefined);
  });
});
