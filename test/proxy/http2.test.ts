// `protocol: h2` in x-google-backend: HTTP/2 over TLS (ALPN) to https backends, prior-knowledge h2c to http
// ones; HTTP/1.1 otherwise. node:http2 backends, the real CLI process trusting a test CA.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { selfSigned } from '../tls/certs.ts';

let dir: string;
let tlsServer: http2.Http2SecureServer;
let h2cServer: http2.Http2Server;
let gw: ChildGateway;

/** Answers with the HTTP version it saw and the body it read. */
function echo(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ httpVersion: req.httpVersion, path: req.url, body, authority: req.headers[':authority'] ?? req.headers.host }));
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-h2-'));
  // A self-signed certificate for 127.0.0.1, trusted by the gateway through NODE_EXTRA_CA_CERTS.
  const { key, cert } = selfSigned(dir);
  tlsServer = http2.createSecureServer({ key: await readFile(key), cert: await readFile(cert), allowHTTP1: true }, echo);
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  h2cServer = http2.createServer(echo);
  h2cServer.listen(0, '127.0.0.1');
  await once(h2cServer, 'listening');
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  const h2cPort = (h2cServer.address() as AddressInfo).port;
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify(
      baseSpec({
        paths: {
          '/tls-h2': { get: op('a', { 'x-google-backend': { address: `https://127.0.0.1:${tlsPort}/a`, protocol: 'h2' } }), post: op('ap', { 'x-google-backend': { address: `https://127.0.0.1:${tlsPort}/a`, protocol: 'h2' } }) },
          '/tls-h1': { get: op('b', { 'x-google-backend': { address: `https://127.0.0.1:${tlsPort}/b` } }) },
          '/h2c': { get: op('c', { 'x-google-backend': { address: `http://127.0.0.1:${h2cPort}/c`, protocol: 'h2' } }), post: op('cp', { 'x-google-backend': { address: `http://127.0.0.1:${h2cPort}/c`, protocol: 'h2' } }) },
        },
      }),
    ),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none'], { NODE_EXTRA_CA_CERTS: cert });
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  tlsServer?.close();
  h2cServer?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Seen {
  httpVersion: string;
  path: string;
  body: string;
  authority: string;
}

describe('HTTP/2 backends', () => {
  test('protocol: h2 to an https backend speaks HTTP/2', async () => {
    const r = await send(gw.url, '/tls-h2');
    assert.equal(r.status, 200, r.body);
    const seen = r.json<Seen>();
    assert.equal(seen.httpVersion, '2.0');
    assert.equal(seen.path, '/a');
    assert.equal(seen.authority, '127.0.0.1');
  });

  test('without protocol, the same https backend gets HTTP/1.1', async () => {
    const r = await send(gw.url, '/tls-h1');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json<Seen>().httpVersion, '1.1');
  });

  test('protocol: h2 to an http backend is prior-knowledge h2c', async () => {
    const r = await send(gw.url, '/h2c');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json<Seen>().httpVersion, '2.0');
  });

  test('request bodies go through HTTP/2 (TLS and h2c)', async () => {
    for (const p of ['/tls-h2', '/h2c']) {
      const r = await send(gw.url, p, { method: 'POST', body: 'x'.repeat(100_000) });
      assert.equal(r.status, 200, r.body);
      const seen = r.json<Seen>();
      assert.equal(seen.httpVersion, '2.0');
      assert.equal(seen.body.length, 100_000);
    }
  });
});
