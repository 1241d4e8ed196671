// Client certificates on the listener (--ssl-server-root-cert-path) and mTLS to a backend behind a private CA
// (--ssl-backend-client-cert-path, --ssl-backend-client-root-certs-file): the real CLI process, Node's https and
// http2 clients, a real https backend that requires a client certificate; certificates made in the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { issue, makeCa, type Pair } from './certs.ts';

let dir: string;
let serverCa: Pair;
let clientCa: Pair;
let client: Pair;
let backend: TestBackend;
let privateBackend: https.Server;
let gwMtls: ChildGateway;
let gwToBackend: ChildGateway;
let gwNoClientCert: ChildGateway;
let clientDir: string;

const portOf = (gw: ChildGateway): number => Number(new URL(gw.url).port);

interface Answer {
  status: number;
  body: string;
}

/** GET over HTTPS/1.1 with (or without) a client certificate; a refused handshake is an error. */
async function h1Get(port: number, p: string, opts: { cert?: Pair; headers?: Record<string, string> } = {}): Promise<Answer> {
  const tlsOpts = { ca: await readFile(serverCa.cert), ...(opts.cert ? { cert: await readFile(opts.cert.cert), key: await readFile(opts.cert.key) } : {}) };
  return new Promise((resolve, reject) => {
    https
      .get({ host: 'localhost', port, path: p, agent: false, headers: opts.headers ?? {}, ...tlsOpts }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function h2Get(port: number, p: string, headers: Record<string, string> = {}): Promise<Answer> {
  const session = http2.connect(`https://localhost:${port}`, { ca: await readFile(serverCa.cert), cert: await readFile(client.cert), key: await readFile(client.key) });
  try {
    return await new Promise((resolve, reject) => {
      session.on('error', reject);
      const s = session.request({ ':path': p, ...headers });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (c: Buffer) => (body += c.toString()));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
    });
  } finally {
    session.close();
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-mtls-'));
  serverCa = makeCa(dir, 'server-ca');
  clientCa = makeCa(dir, 'client-ca');
  const server = issue(dir, serverCa, 'gateway', 'serverAuth');
  client = issue(dir, clientCa, 'caller', 'clientAuth', 'URI:spiffe://test/caller,DNS:caller.test');
  const gatewayClient = issue(dir, clientCa, 'gateway-client', 'clientAuth', 'DNS:gateway.test');
  // The gateway's folders, in ESPv2's layout: server.crt/server.key and client.crt/client.key.
  const sslDir = path.join(dir, 'ssl');
  clientDir = path.join(dir, 'client');
  await mkdir(sslDir);
  await mkdir(clientDir);
  await copyFile(server.cert, path.join(sslDir, 'server.crt'));
  await copyFile(server.key, path.join(sslDir, 'server.key'));
  await copyFile(gatewayClient.cert, path.join(clientDir, 'client.crt'));
  await copyFile(gatewayClient.key, path.join(clientDir, 'client.key'));

  backend = await startTestBackend();
  // A backend on a private CA that only talks to holders of a client certificate from client-ca.
  const backendCert = issue(dir, serverCa, 'private-backend', 'serverAuth');
  privateBackend = https.createServer(
    { cert: await readFile(backendCert.cert), key: await readFile(backendCert.key), ca: await readFile(clientCa.cert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ peer: peer?.subject ?? null }));
    },
  );
  privateBackend.listen(0, '127.0.0.1');
  await once(privateBackend, 'listening');
  const privatePort = (privateBackend.address() as AddressInfo).port;

  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify(
      baseSpec({
        'x-google-backend': { address: backend.url },
        paths: {
          '/echo': { get: op('echo') },
          '/private': { get: op('private', { 'x-google-backend': { address: `https://127.0.0.1:${privatePort}/p` } }) },
          '/by-uri': { get: op('byUri', { 'x-endpoints-authorization': { client_certificates: ['spiffe://test/caller'] } }) },
          '/by-subject': { get: op('bySubject', { 'x-endpoints-authorization': { client_certificates: ['CN=someone-else,O=Test Org'] } }) },
        },
      }),
    ),
  );
  const common = ['--spec', specFile, '--backend-auth', 'none', '--keys', 'none'];
  [gwMtls, gwToBackend, gwNoClientCert] = await Promise.all([
    startChildGateway([...common, '--ssl-server-cert-path', sslDir, '--ssl-server-root-cert-path', clientCa.cert]),
    startChildGateway([...common, '--ssl-backend-client-cert-path', clientDir, '--ssl-backend-client-root-certs-file', serverCa.cert]),
    startChildGateway([...common, '--ssl-backend-client-root-certs-file', serverCa.cert]),
  ]);
});

after(async () => {
  const all = [gwMtls, gwToBackend, gwNoClientCert];
  for (const gw of all) gw?.child.kill('SIGTERM');
  await Promise.all(all.map((gw) => gw?.exit()));
  await backend?.close();
  privateBackend?.closeAllConnections();
  privateBackend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('client certificates on the listener', () => {
  test('a client without a certificate is refused at the handshake', async () => {
    await assert.rejects(h1Get(portOf(gwMtls), '/echo'));
  });

  test('a client with a certificate from another CA is refused', async () => {
    const stranger = issue(dir, makeCa(dir, 'other-ca'), 'stranger', 'clientAuth');
    await assert.rejects(h1Get(portOf(gwMtls), '/echo', { cert: stranger }));
  });

  test("the verified subject and SANs reach the backend in X-Endpoints-Client-Cert; a caller's copy never does", async () => {
    const forged = { 'x-endpoints-client-cert': 'Subject="CN=admin"' };
    const fingerprint = new (await import('node:crypto')).X509Certificate(await readFile(client.cert)).fingerprint256.replaceAll(':', '').toLowerCase();
    const want = `Hash=${fingerprint};Subject="CN=caller,O=Test Org";URI=spiffe://test/caller;DNS=caller.test`;
    for (const send of [() => h1Get(portOf(gwMtls), '/echo', { cert: client, headers: forged }), () => h2Get(portOf(gwMtls), '/echo', forged)]) {
      backend.clear();
      const r = await send();
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(backend.last()!.headers['x-endpoints-client-cert'], want);
    }
  });

  test('x-endpoints-authorization client_certificates: a listed SAN passes, an unlisted certificate gets 403 over HTTP/1.1 and HTTP/2', async () => {
    const other = issue(dir, clientCa, 'other-caller', 'clientAuth', 'URI:spiffe://test/other');
    assert.equal((await h1Get(portOf(gwMtls), '/by-uri', { cert: client })).status, 200);
    assert.equal((await h2Get(portOf(gwMtls), '/by-uri')).status, 200);
    const denied = await h1Get(portOf(gwMtls), '/by-uri', { cert: other });
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.body), { code: 403, message: "PERMISSION_DENIED: The caller's client certificate is not allowed to call this method." });
    const h2Denied = await h2Get(portOf(gwMtls), '/by-subject');
    assert.equal(h2Denied.status, 403);
    assert.equal(h2Denied.body, denied.body);
    // Without a verified certificate at all (a cleartext listener), the rule refuses too.
    const r = await fetch(`${gwToBackend.url}/by-uri`);
    assert.equal(r.status, 403);
  });

  test("without client certificates configured, a caller's X-Endpoints-Client-Cert is dropped", async () => {
    backend.clear();
    const r = await fetch(`${gwToBackend.url}/echo`, { headers: { 'x-endpoints-client-cert': 'Subject="CN=admin"' } });
    assert.equal(r.status, 200);
    assert.equal(backend.last()!.headers['x-endpoints-client-cert'], undefined);
  });
});

describe('mTLS to backends', () => {
  test('a backend on a private CA that requires a client certificate is reached', async () => {
    const r = await fetch(`${gwToBackend.url}/private`);
    assert.equal(r.status, 200, await r.clone().text());
    assert.match(((await r.json()) as { peer: string }).peer, /CN=gateway-client/);
  });

  test('without the client certificate the same backend refuses the gateway: ESP 502/503 JSON', async () => {
    const r = await fetch(`${gwNoClientCert.url}/private`);
    assert.ok(r.status === 502 || r.status === 503, `status ${r.status}`);
    const body = (await r.json()) as { code: number; message: string };
    assert.equal(body.code, r.status);
  });

  test('a client certificate swapped on disk is presented on the next new backend connection', async () => {
    const next = issue(dir, clientCa, 'gateway-client-2', 'clientAuth', 'DNS:gateway.test');
    for (const [from, to] of [[next.key, 'client.key'], [next.cert, 'client.crt']] as const) {
      await copyFile(from, path.join(clientDir, `${to}.new`));
      await rename(path.join(clientDir, `${to}.new`), path.join(clientDir, to));
    }
    await gwToBackend.waitForLog((l) => l.message === 'backend TLS credentials reloaded: new backend connections use them');
    // Open backend connections finish with what they were made with: close them so the next call connects anew.
    privateBackend.closeAllConnections();
    const r = await fetch(`${gwToBackend.url}/private`);
    assert.equal(r.status, 200);
    assert.match(((await r.json()) as { peer: string }).peer, /CN=gateway-client-2/);
  });
});
