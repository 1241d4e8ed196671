// Envoy's hop-by-hop header policy both ways, request framing, and the response shapes that carry no body.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { baseSpec, op, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';

let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end('ok');
const seen: { headers: http.IncomingHttpHeaders; body: string }[] = [];
let server: http.Server;
let gw: TestGateway;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      handler(req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  gw = await startTestGateway({
    spec: baseSpec({ 'x-google-backend': { address: base }, paths: { '/h': { get: op('h'), post: op('p'), head: op('hd') } } }),
  });
});

after(async () => {
  await gw?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

function headOf(reply: string): string {
  return reply.slice(0, reply.indexOf('\r\n\r\n')).toLowerCase();
}

describe('request headers', () => {
  test('hop-by-hop headers never reach the backend; the rest do', async () => {
    handler = (_req, res) => res.end('ok');
    seen.length = 0;
    const reply = await sendRaw(
      gw.url,
      'GET /h HTTP/1.1\r\nhost: x\r\nconnection: close, x-conn-named\r\nx-conn-named: 1\r\nkeep-alive: timeout=9\r\n' +
        'proxy-connection: keep-alive\r\nte: gzip\r\ntrailer: x-t\r\nupgrade: h2c\r\nx-keep: yes\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    const h = seen[0]!.headers;
    for (const name of ['x-conn-named', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding'])
      assert.equal(h[name], undefined, `${name} forwarded`);
    // The connection header the backend sees is undici's own, never the client's.
    assert.notEqual(h.connection, 'close, x-conn-named');
    assert.equal(h['x-keep'], 'yes');
  });

  test('an upgrade the gateway does not tunnel (h2c) is forwarded as a plain request, without its upgrade headers', async () => {
    handler = (_req, res) => res.end('ok');
    seen.length = 0;
    const reply = await sendRaw(
      gw.url,
      'GET /h HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings, close\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    const h = seen[0]!.headers;
    assert.equal(h.upgrade, undefined);
    assert.equal(h['http2-settings'], undefined);
    assert.ok(!/upgrade/i.test(String(h.connection ?? '')));
  });

  test('TE: trailers may be kept', async () => {
    seen.length = 0;
    await send(gw.url, '/h', { headers: { te: 'trailers' } });
    assert.equal(seen[0]!.headers.te, 'trailers');
  });

  for (const te of ['chunked, chunked', 'gzip', 'xchunked', 'chunked,', ', chunked', 'gzip,,chunked', 'chunked;x=1', 'identity']) {
    test(`a malformed Transfer-Encoding (${te}) is refused 400 in ESP JSON, never forwarded`, async () => {
      seen.length = 0;
      const reply = await sendRaw(gw.url, `POST /h HTTP/1.1\r\nhost: x\r\ntransfer-encoding: ${te}\r\n\r\n2\r\nhi\r\n0\r\n\r\n`);
      assert.match(reply, /^HTTP\/1\.1 400 /);
      assert.ok(reply.endsWith('{"code":400,"message":"Bad Request"}'), reply);
      assert.equal(seen.length, 0);
    });
  }

  test('a well-formed list with another coding (gzip, chunked) is refused 501: it cannot be forwarded as sent', async () => {
    seen.length = 0;
    const reply = await sendRaw(gw.url, 'POST /h HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 501 /);
    assert.ok(reply.endsWith('{"code":501,"message":"Not Implemented"}'), reply);
    assert.equal(seen.length, 0);
  });

  test('a chunked request body is forwarded, re-framed', async () => {
    seen.length = 0;
    handler = (_req, res) => res.end('ok');
    const reply = await sendRaw(gw.url, 'POST /h HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n2\r\nhi\r\n3\r\n!!!\r\n0\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.equal(seen[0]!.body, 'hi!!!');
  });

  test('Expect: 100-continue: the client gets 100, then the backend gets the body', async () => {
    seen.length = 0;
    handler = (_req, res) => res.end('done');
    const u = new URL(gw.url);
    const result = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(
        { host: u.hostname, port: u.port, path: '/h', method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': '5' } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body, continued }));
        },
      );
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('error', reject);
    });
    assert.equal(result.continued, true);
    assert.equal(result.status, 200);
    assert.equal(result.body, 'done');
    assert.equal(seen[0]!.body, 'hello');
    assert.equal(seen[0]!.headers.expect, undefined);
  });
});

describe('response headers', () => {
  test('hop-by-hop headers of the backend never reach the client', async () => {
    handler = (_req, res) => {
      res.writeHead(200, {
        connection: 'x-secret',
        'x-secret': '1',
        'keep-alive': 'timeout=1',
        'proxy-connection': 'keep-alive',
        upgrade: 'foo',
        te: 'trailers',
        'x-keep': 'yes',
      });
      res.end('ok');
    };
    const r = await send(gw.url, '/h');
    assert.equal(r.status, 200);
    for (const name of ['x-secret', 'proxy-connection', 'upgrade', 'te']) assert.equal(r.headers[name], undefined, `${name} forwarded`);
    // Node's own keep-alive headers for the client's connection, not the backend's.
    assert.notEqual(r.headers['keep-alive'], 'timeout=1');
    assert.equal(r.headers['x-keep'], 'yes');
  });

  test('a response without length is sent chunked', async () => {
    handler = (_req, res) => {
      res.write('a');
      setTimeout(() => res.end('b'), 10);
    };
    const reply = await sendRaw(gw.url, 'GET /h HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(headOf(reply), /transfer-encoding: chunked/);
    // How the two writes are cut into chunks depends on when each arrives (a loaded machine may
    // read both at once); what they carry, and the last chunk, do not.
    const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
    assert.match(body, /^([0-9a-f]+\r\n[ab]+\r\n)+0\r\n\r\n$/, reply);
    assert.equal(body.replace(/[0-9a-f]+\r\n([ab]*)\r\n/g, '$1'), 'ab', reply);
  });
});

describe('connections and bodiless responses', () => {
  /**
   * Sends requests one after another on one socket, each once the answer to the one before
   * has begun, then ends its side; resolves with everything received once the gateway,
   * having finished the last answer, closes the connection.
   */
  function pipelineOn(requests: string[]): Promise<string> {
    const u = new URL(gw.url);
    return new Promise((resolve) => {
      const sock = net.connect(Number(u.port), u.hostname);
      let got = '';
      let i = 0;
      const next = (): void => {
        if (i !== (got.match(/HTTP\/1\.1 \d{3} /g) ?? []).length) return;
        if (i < requests.length) sock.write(requests[i++]!);
        else if (i++ === requests.length) sock.end();
      };
      sock.on('data', (c) => {
        got += c.toString('latin1');
        next();
      });
      sock.on('connect', next);
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(got));
    });
  }

  test("a client's Connection: close closes the client connection after its response", async () => {
    handler = (_req, res) => res.end('ok');
    const t0 = Date.now();
    const reply = await sendRaw(gw.url, 'GET /h HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 30_000);
    // Closed by the gateway, not by this client giving up after 30 s.
    assert.ok(Date.now() - t0 < 20_000, 'the gateway closed the connection itself');
    assert.match(headOf(reply), /\r\nconnection: close/);
  });

  test('keep-alive: two requests on one client connection', async () => {
    handler = (_req, res) => res.end('ok');
    const got = await pipelineOn(['GET /h HTTP/1.1\r\nhost: x\r\n\r\n', 'GET /h HTTP/1.1\r\nhost: x\r\n\r\n']);
    assert.equal(got.match(/HTTP\/1\.1 200 /g)?.length, 2);
  });

  test('HEAD: the length of the GET, no body', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': '5' });
      res.end();
    };
    const got = await pipelineOn(['HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n', 'HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n']);
    assert.equal(got.match(/HTTP\/1\.1 200 /g)?.length, 2);
    assert.match(got.toLowerCase(), /content-length: 5/);
    assert.ok(got.endsWith('\r\n\r\n'), 'no body bytes');
  });

  for (const status of [204, 304]) {
    test(`${status}: no body, and the connection stays usable`, async () => {
      handler = (_req, res) => {
        res.writeHead(status, { etag: '"x"' });
        res.end();
      };
      const got = await pipelineOn(['GET /h HTTP/1.1\r\nhost: x\r\n\r\n', 'GET /h HTTP/1.1\r\nhost: x\r\n\r\n']);
      assert.equal(got.match(new RegExp(`HTTP/1\\.1 ${status} `, 'g'))?.length, 2);
      assert.ok(!/transfer-encoding/i.test(got));
      assert.ok(got.endsWith('\r\n\r\n'));
    });
  }
});
