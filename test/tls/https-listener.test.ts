// The serving port over TLS (HTTP/2 by ALPN next to HTTP/1.1) and over cleartext HTTP/2 with prior knowledge
// (--h2c): the real CLI process, curl and Node's https/http2 clients, certificates made in the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { issue, makeCa, type Pair } from './certs.ts';

const run = promisify(execFile);

let dir: string;
let ca: Pair;
let certDir: string;
let specFile: string;
let backend: TestBackend;
let gwTls: ChildGateway;
let gwH2c: ChildGateway;
let gwSelf: ChildGateway;

const portOf = (gw: ChildGateway): number => Number(new URL(gw.url).port);

/** curl's answer: status, HTTP version, body (and what it said on failure). */
async function curl(args: string[]): Promise<{ status: number; version: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '30', '-w', '\n%{http_code} %{http_version}', ...args]);
  const nl = stdout.lastIndexOf('\n');
  const [status, version] = stdout.slice(nl + 1).split(' ');
  return { status: Number(status), version: version!, body: stdout.slice(0, nl) };
}

/** One request on an open HTTP/2 session. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers);
    let out = '';
    let status = 0;
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('data', (c: Buffer) => (out += c.toString()));
    s.on('end', () => resolve({ status, body: out }));
    s.on('error', reject);
    s.end(body);
  });
}

async function h2Session(port: number, opts: tls.ConnectionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://localhost:${port}`, { ca: await readFile(ca.cert), ...opts });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** One HTTP/2 frame: 9-byte head, then the payload. */
function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

/**
 * CVE-2023-44487 as attackers send it, on a raw TLS socket (Node's client will not): HEADERS then RST_STREAM
 * CANCEL for stream after stream, in batches, until the gateway closes the connection or `max` pairs went out.
 */
async function rapidReset(port: number, max: number, batchSize = 100, pauseMs = 1): Promise<{ pairs: number; closed: boolean; goaway: number[] }> {
  const authority = Buffer.from('localhost');
  const target = Buffer.from('/echo');
  // HPACK: :method GET, :scheme https, then :path and :authority as literals, not indexed. A proxied
  // route: its answer takes a backend trip, so the reset arrives first (a 404 would be answered at once).
  const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, target.length]), target, Buffer.from([0x01, authority.length]), authority]);
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: await readFile(ca.cert), ALPNProtocols: ['h2'] });
  await new Promise((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
  const goaway: number[] = [];
  let buf = Buffer.alloc(0);
  let closed = false;
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      if (buf[3] === 7) goaway.push(buf.readUInt32BE(13));
      buf = buf.subarray(9 + len);
    }
  });
  s.on('close', () => (closed = true));
  s.on('error', () => {});
  s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(4, 0, 0, Buffer.alloc(0))]));
  let id = 1;
  let pairs = 0;
  while (!closed && pairs < max) {
    const batch: Buffer[] = [];
    for (let i = 0; i < batchSize; i++, id += 2, pairs++) batch.push(frame(1, 0x5, id, block), frame(3, 0, id, cancel));
    s.write(Buffer.concat(batch));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  await waitFor(() => closed, 'the flooding connection to close', 5000).catch(() => {});
  s.destroy();
  return { pairs, closed, goaway };
}

/** The certificate a new TLS handshake is answered with (its CN), or the handshake's error. */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<{ cn?: string; validTo?: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ...opts }, () => {
      const c = s.getPeerX509Certificate();
      resolve({ cn: /CN=([^\n]+)/.exec(c?.subject ?? '')?.[1], validTo: c?.validTo });
      s.destroy();
    });
    s.on('error', (e) => resolve({ error: e.message }));
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-tls-'));
  ca = makeCa(dir, 'test-ca');
  const a = issue(dir, ca, 'server-a', 'serverAuth');
  issue(dir, ca, 'server-b', 'serverAuth');
  certDir = path.join(dir, 'ssl');
  await mkdir(certDir);
  await copyFile(a.cert, path.join(certDir, 'server.crt'));
  await copyFile(a.key, path.join(certDir, 'server.key'));
  backend = await startTestBackend();
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify(baseSpec({ 'x-google-backend': { address: backend.url }, paths: { '/echo': { get: op('get'), post: op('post') } } })));
  const common = ['--spec', specFile, '--backend-auth', 'none', '--keys', 'none'];
  [gwTls, gwH2c, gwSelf] = await Promise.all([
    startChildGateway([...common, '--ssl-server-cert-path', certDir]),
    startChildGateway([...common, '--h2c']),
    startChildGateway([...common, '--generate-self-signed-cert', '--ssl-maximum-protocol', 'TLSv1.2']),
  ]);
});

after(async () => {
  for (const gw of [gwTls, gwH2c, gwSelf]) gw?.child.kill('SIGTERM');
  await Promise.all([gwTls, gwH2c, gwSelf].map((gw) => gw?.exit()));
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('HTTPS listener', () => {
  test('HTTP/2 by ALPN and HTTP/1.1 on the same port reach the backend the same way', async () => {
    const base = `https://localhost:${portOf(gwTls)}`;
    for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']] as const) {
      backend.clear();
      const r = await curl([flag, '--cacert', ca.cert, '-H', 'x-caller: yes', `${base}/echo?q=1`]);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.version, version);
      const seen = backend.last()!;
      assert.equal(seen.url, '/echo?q=1');
      assert.equal(seen.headers['x-caller'], 'yes');
      // No HTTP/2 pseudo-header ever reaches an HTTP/1.1 backend.
      assert.deepEqual(Object.keys(seen.headers).filter((h) => h.startsWith(':')), []);
    }
  });

  test('a request body sent over HTTP/2 reaches the backend whole', async () => {
    const session = await h2Session(portOf(gwTls));
    try {
      backend.clear();
      const body = 'x'.repeat(200_000);
      const r = await h2Request(session, { ':method': 'POST', ':path': '/echo', 'content-type': 'text/plain' }, body);
      assert.equal(r.status, 200, r.body);
      assert.ok(backend.last()!.body === body, `the backend got ${backend.last()!.body.length} bytes`);
      assert.equal(backend.last()!.method, 'POST');
    } finally {
      session.close();
    }
  });

  test('the same refusal texts over HTTP/1.1, HTTP/2 and h2c', async () => {
    const cases = [
      { args: ['/nope'], status: 404 },
      { args: ['-X', 'DELETE', '/echo'], status: 405 },
      { args: ['-H', 'bad_header: 1', '/echo'], status: 400 },
      { args: ['--data-binary', `@${path.join(dir, 'server-a.crt')}`, '/nope'], status: 404 },
    ];
    for (const c of cases) {
      const path = c.args[c.args.length - 1]!;
      const extra = c.args.slice(0, -1);
      const answers = await Promise.all([
        curl(['--http1.1', '--cacert', ca.cert, ...extra, `https://localhost:${portOf(gwTls)}${path}`]),
        curl(['--http2', '--cacert', ca.cert, ...extra, `https://localhost:${portOf(gwTls)}${path}`]),
        curl(['--http2-prior-knowledge', ...extra, `${gwH2c.url}${path}`]),
        curl(['--http1.1', ...extra, `${gwH2c.url}${path}`]),
      ]);
      assert.deepEqual(answers.map((a) => a.version), ['1.1', '2', '2', '1.1']);
      for (const a of answers) {
        assert.equal(a.status, c.status, `${c.args.join(' ')}: ${a.body}`);
        assert.equal(a.body, answers[0]!.body);
        assert.equal((JSON.parse(a.body) as { code: number }).code, c.status);
      }
    }
  });

  test('over HTTP/2 a refusal while the body is still coming ends that stream only: the connection serves on', async () => {
    const session = await h2Session(portOf(gwTls));
    try {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': '/nope', 'content-length': String(1 << 20) });
        let status = 0;
        let body = '';
        s.on('response', (h) => (status = Number(h[':status'])));
        s.on('data', (c: Buffer) => (body += c.toString()));
        s.on('close', () => resolve({ status, body }));
        s.on('error', reject);
        // A tenth of the announced body, the rest never sent.
        s.write(Buffer.alloc(100_000));
      });
      assert.equal(r.status, 404);
      assert.equal((JSON.parse(r.body) as { code: number }).code, 404);
      const next = await h2Request(session, { ':path': '/echo' });
      assert.equal(next.status, 200);
      assert.ok(!session.closed && !session.destroyed);
    } finally {
      session.close();
    }
  });

  test('h2c with prior knowledge (--h2c) carries bodies both ways; HTTP/1.1 still served on the port', async () => {
    backend.clear();
    const r = await curl(['--http2-prior-knowledge', '-d', 'hello h2c', `${gwH2c.url}/echo`]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.version, '2');
    assert.equal(backend.last()!.body, 'hello h2c');
    const h1 = await curl(['--http1.1', '-d', 'hello h1', `${gwH2c.url}/echo`]);
    assert.equal(h1.status, 200, h1.body);
    assert.equal(backend.last()!.body, 'hello h1');
  });

  test('a rapid-reset flood ends the flooding connection with GOAWAY; little of it reaches the backend; other clients are served', async () => {
    backend.clear();
    const flood = await rapidReset(portOf(gwTls), 20_000);
    assert.ok(flood.closed, `the gateway kept the connection after ${flood.pairs} resets`);
    // Ours (ENHANCE_YOUR_CALM, premature resets counted per connection) or nghttp2's own reset-rate bucket
    // (INTERNAL_ERROR), whichever trips first on this machine's timing: either way the flood's connection ends.
    assert.ok([http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, http2.constants.NGHTTP2_INTERNAL_ERROR].includes(flood.goaway[0]!), `GOAWAY ${flood.goaway.join(',')}`);
    // The flood is written faster than it is read; what matters is how little of it reached the backend.
    assert.ok(backend.requests.length < 1000, `${backend.requests.length} of the reset streams reached the backend`);
    const other = await curl(['--http2', '--cacert', ca.cert, `https://localhost:${portOf(gwTls)}/echo`]);
    assert.equal(other.status, 200);
  });

  test('resets below nghttp2\'s own rate limit still end the connection once 100 streams were reset unanswered', async () => {
    // 600 pairs in small paced batches: under nghttp2's reset bucket (burst 1000), so only the gateway's count ends it.
    const slow = await rapidReset(portOf(gwTls), 600, 10, 20);
    assert.ok(slow.closed, `the gateway kept the connection after ${slow.pairs} resets`);
    assert.equal(slow.goaway[0], http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    assert.ok(slow.pairs < 600, `all ${slow.pairs} streams were taken`);
  });

  test('certificate files swapped on disk: new handshakes get the new one, an open connection carries on', async () => {
    const port = portOf(gwTls);
    assert.equal((await handshake(port, { ca: await readFile(ca.cert) })).cn, 'server-a');
    const session = await h2Session(port);
    const agent = new https.Agent({ keepAlive: true, ca: await readFile(ca.cert) });
    const keepAliveGet = (): Promise<number> =>
      new Promise((resolve, reject) => {
        https.get({ host: 'localhost', port, path: '/echo', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
    try {
      assert.equal(await keepAliveGet(), 200);
      // As a Secret rotation does: new files renamed into place.
      for (const f of ['server.key', 'server.crt']) {
        await copyFile(path.join(dir, f.replace('server', 'server-b')), path.join(certDir, `${f}.new`));
        await rename(path.join(certDir, `${f}.new`), path.join(certDir, f));
      }
      await gwTls.waitForLog((l) => l.message === 'TLS credentials reloaded: new connections use them');
      await waitFor(async () => (await handshake(port, { ca: await readFile(ca.cert) })).cn === 'server-b', 'the new certificate on a new handshake');
      // The connections opened before the swap are still served.
      const r = await h2Request(session, { ':path': '/echo' });
      assert.equal(r.status, 200);
      assert.match(String(session.socket && (session.socket as tls.TLSSocket).getPeerX509Certificate?.()?.subject), /CN=server-a/);
      assert.equal(await keepAliveGet(), 200);
      assert.equal(agent.sockets[`localhost:${port}:`]?.length ?? Object.values(agent.freeSockets).flat().length, 1, 'the keep-alive connection was reused');
    } finally {
      session.close();
      agent.destroy();
    }
  });

  test('TLS below 1.2 is refused by default', async () => {
    const r = await handshake(portOf(gwTls), { ca: await readFile(ca.cert), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    assert.ok(r.error, 'a TLS 1.1 handshake succeeded');
  });

  test('--generate-self-signed-cert serves a certificate for CN=localhost valid 10 years; --ssl-maximum-protocol caps the version', async () => {
    const r = await handshake(portOf(gwSelf), { rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    assert.equal(r.cn, 'localhost', r.error);
    const years = (Date.parse(r.validTo!) - Date.now()) / (365.25 * 24 * 3600 * 1000);
    assert.ok(years > 9.9 && years < 10.1, `valid for ${years} years`);
    const only13 = await handshake(portOf(gwSelf), { rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    assert.ok(only13.error, 'a TLS 1.3-only client was served by a listener capped at 1.2');
    const viaCurl = await curl(['-k', '--http2', `https://localhost:${portOf(gwSelf)}/echo`]);
    assert.equal(viaCurl.status, 200);
  });

  test('unusable TLS flags stop the start with a message naming the flag', async () => {
    const common = ['serve', '--spec', specFile, '--port', '0', '--host', '127.0.0.1', '--backend-auth', 'none', '--keys', 'none'];
    const noCert = await runCli([...common, '--ssl-server-root-cert-path', ca.cert]);
    assert.equal(noCert.code, 1);
    assert.match(noCert.stderr, /--ssl-server-root-cert-path needs --ssl-server-cert-path/);
    const missing = await runCli([...common, '--ssl-server-cert-path', path.join(dir, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--ssl-server-cert-path: cannot read .*server\.crt: ENOENT/);
  });
});
