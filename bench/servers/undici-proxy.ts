// The floor: the least a Node proxy can do. node:http server, undici Pool upstream, headers copied
// (minus hop-by-hop), body streamed both ways. No routing, no checks.
// Usage: node bench/servers/undici-proxy.ts TARGET_URL (prints {"message":"listening","port":N})
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const target = new URL(process.argv[2] ?? 'http://127.0.0.1:8082');
const pool = new Pool(target.origin, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in h) {
    const v = h[name];
    if (v !== undefined && !HOP.has(name)) out[name] = v;
  }
  out.host = target.host;
  return out;
}

const server = createServer((req, res) => {
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  pool
    .request({ method, path: req.url ?? '/', headers: forwardHeaders(req.headers), body: hasBody ? req : null })
    .then(({ statusCode, headers, body }) => {
      const out: Record<string, string | string[]> = {};
      for (const name in headers) {
        const v = headers[name];
        if (v !== undefined && !HOP.has(name)) out[name] = v;
      }
      res.writeHead(statusCode, out);
      body.pipe(res);
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"code":502,"message":"upstream error"}');
    });
});
server.keepAliveTimeout = 65_000;
// Port 0: the kernel picks a free port, and the benchmark reads it from this line.
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ message: 'listening', port: (server.address() as AddressInfo).port })));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close();
});
