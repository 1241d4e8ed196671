// Per-backend TLS credentials (x-endpoints-tls inside x-google-backend): the real CLI process, two https
// backends on private CAs that each require a client certificate from their own CA, one reached with the
// gateway-wide --ssl-backend-client-* flags and one with the spec's block; certificates made in the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { issue, makeCa, type Pair } from './certs.ts';

let dir: string;
let specFile: string;
let gw: ChildGateway;
const backends: https.Server[] = [];
let portA: number;
let portB: number;
let caB: Pair;
let clientCaB: Pair;
/** Backend connections still open, with the subject of the client certificate each was made with. */
const open = new Map<TLSSocket, string>();

/** An https backend on its own CA that answers only holders of a client certificate from `clientCa`, with the peer's subject. */
async function privateBackend(serverCa: Pair, clientCa: Pair, name: string): Promise<number> {
  const cert = issue(dir, serverCa, name, 'serverAuth');
  const server = https.createServer(
    { cert: await readFile(cert.cert), key: await readFile(cert.key), ca: await readFile(clientCa.cert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ peer: (req.socket as TLSSocket).getPeerX509Certificate()?.subject ?? null }));
    },
  );
  // A long keep-alive hint, so undici keeps idle connections: only the gateway's own pool closing ends them.
  server.keepAliveTimeout = 600_000;
  server.on('secureConnection', (s: TLSSocket) => {
    open.set(s, s.getPeerX509Certificate()?.subject ?? '');
    s.once('close', () => open.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  backends.push(server);
  return (server.address() as AddressInfo).port;
}

/** A folder in the flag's layout (client.crt, client.key) holding a new client certificate from `ca`. */
async function clientFolder(ca: Pair, name: string): Promise<string> {
  const pair = issue(dir, ca, name, 'clientAuth', `DNS:${name}.test`);
  const folder = path.join(dir, name);
  await mkdir(folder, { recursive: true });
  await copyFile(pair.cert, path.join(folder, 'client.crt'));
  await copyFile(pair.key, path.join(folder, 'client.key'));
  return folder;
}

/** The spec: /a on backend A (no block: the flags), /b and /b-flags on backend B, /b with its own credentials. */
function spec(tls: Record<string, string>): string {
  return stringify(
    baseSpec({
      paths: {
        '/a': { get: op('a', { 'x-google-backend': { address: `https://127.0.0.1:${portA}/a` } }) },
        '/b': { get: op('b', { 'x-google-backend': { address: `https://127.0.0.1:${portB}/b`, 'x-endpoints-tls': tls } }) },
        '/b-flags': { get: op('bFlags', { 'x-google-backend': { address: `https://127.0.0.1:${portB}/b` } }) },
      },
    }),
  );
}

async function peerOf(p: string): Promise<string> {
  const r = await fetch(`${gw.url}${p}`);
  const body = await r.text();
  assert.equal(r.status, 200, body);
  return (JSON.parse(body) as { peer: string }).peer;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-backend-tls-'));
  const caA = makeCa(dir, 'ca-a');
  const clientCaA = makeCa(dir, 'client-ca-a');
  caB = makeCa(dir, 'ca-b');
  clientCaB = makeCa(dir, 'client-ca-b');
  portA = await privateBackend(caA, clientCaA, 'backend-a');
  portB = await privateBackend(caB, clientCaB, 'backend-b');
  const clientA = await clientFolder(clientCaA, 'client-a');
  await clientFolder(clientCaB, 'client-b');
  specFile = path.join(dir, 'endpoint.yaml');
  // Relative to the spec file's folder.
  await writeFile(specFile, spec({ client_cert_path: 'client-b', root_certs_file: 'ca-b.crt' }));
  gw = await startChildGateway(
    ['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--ssl-backend-client-cert-path', clientA, '--ssl-backend-client-root-certs-file', caA.cert],
    { ENDPOINTS_CACHE_DIR: 'off' },
  );
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  for (const b of backends) {
    b.closeAllConnections();
    b.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('x-endpoints-tls: a backend with its own TLS credentials', () => {
  test('one backend is reached with the gateway-wide flags, the other with its own client certificate and private CA', async () => {
    assert.match(await peerOf('/a'), /CN=client-a/);
    assert.match(await peerOf('/b'), /CN=client-b/);
  });

  test('two backends on one origin with different credentials use different connections', async () => {
    // /b has a kept-alive connection to backend B by now; /b-flags (the flags' CA and certificate) must not use it.
    assert.match(await peerOf('/b'), /CN=client-b/);
    const r = await fetch(`${gw.url}/b-flags`);
    assert.ok(r.status === 502 || r.status === 503, `status ${r.status}`);
    assert.equal(((await r.json()) as { code: number }).code, r.status);
    assert.match(await peerOf('/b'), /CN=client-b/);
  });

  test('a client certificate swapped on disk is presented on the next new backend connection', async () => {
    const next = issue(dir, clientCaB, 'client-b-next', 'clientAuth', 'DNS:client-b-next.test');
    const folder = path.join(dir, 'client-b');
    for (const [from, to] of [[next.key, 'client.key'], [next.cert, 'client.crt']] as const) {
      await copyFile(from, path.join(folder, `${to}.new`));
      await rename(path.join(folder, `${to}.new`), path.join(folder, to));
    }
    await gw.waitForLog((l) => l.message === 'backend TLS credentials reloaded: new backend connections use them' && JSON.stringify(l.files).includes(folder));
    // Open backend connections finish with what they were made with: close them so the next call connects anew.
    for (const b of backends) b.closeAllConnections();
    assert.match(await peerOf('/b'), /CN=client-b-next/);
    assert.match(await peerOf('/a'), /CN=client-a/);
  });

  test('a reload whose block names a missing file is refused with the place named; the previous spec still serves', async () => {
    const from = gw.logs.length;
    await writeFile(specFile, spec({ client_cert_path: 'nowhere', root_certs_file: 'ca-b.crt' }));
    gw.child.kill('SIGHUP');
    const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused') && gw.logs.indexOf(l) >= from);
    const missing = path.join(dir, 'nowhere', 'client.crt');
    assert.deepEqual(refused.problems, [`${specFile}: paths["/b"].get.x-google-backend.x-endpoints-tls: client_cert_path: cannot read ${missing}: ENOENT`]);
    assert.match(await peerOf('/b'), /CN=client-b-next/);
  });

  test('a reload naming other credentials uses them and closes the ones no longer named', async () => {
    const other = await clientFolder(clientCaB, 'client-b2');
    assert.match(await peerOf('/b'), /CN=client-b-next/);
    assert.ok([...open.values()].some((s) => s.includes('CN=client-b-next')), 'a kept-alive connection made with the old credentials');
    const from = gw.logs.length;
    await writeFile(specFile, spec({ client_cert_path: other, root_certs_file: caB.cert }));
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.message === 'spec reloaded' && gw.logs.indexOf(l) >= from);
    const closed = await gw.waitForLog((l) => l.message === 'backend TLS credentials closed: no served spec names them');
    assert.equal(closed.clientCertPath, path.join(dir, 'client-b'));
    // Their pool went with them: its idle connection is closed by the gateway.
    await waitFor(() => ![...open.values()].some((s) => s.includes('CN=client-b-next')), 'the connections made with the closed credentials to end');
    // Absolute paths name the same roots file as the relative one did, but with another folder: new credentials.
    assert.match(await peerOf('/b'), /CN=client-b2/);
    assert.match(await peerOf('/a'), /CN=client-a/);
  });
});

describe('x-endpoints-tls problems refuse the spec at start', () => {
  test('a top-level block naming a missing file: the place is named, nothing listens', async () => {
    const bad = path.join(dir, 'bad-missing.yaml');
    const top = { address: `https://127.0.0.1:${portA}`, 'x-endpoints-tls': { root_certs_file: 'no-such-ca.crt' } };
    await writeFile(bad, stringify(baseSpec({ 'x-google-backend': top, paths: { '/a': { get: op('a') } } })));
    const r = await runCli(['serve', '--spec', bad, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'], { env: { ENDPOINTS_CACHE_DIR: 'off' }, timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`x-google-backend.x-endpoints-tls: root_certs_file: cannot read ${path.join(dir, 'no-such-ca.crt')}: ENOENT`), r.stderr);
  });

  test('a misspelt field is a spec problem', async () => {
    const bad = path.join(dir, 'bad-field.yaml');
    await writeFile(bad, spec({ client_cert_pth: 'client-b' }));
    const r = await runCli(['serve', '--spec', bad, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'], { env: { ENDPOINTS_CACHE_DIR: 'off' }, timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /paths\["\/b"\]\.get\.x-google-backend\.x-endpoints-tls.*client_cert_pth/);
  });
});
