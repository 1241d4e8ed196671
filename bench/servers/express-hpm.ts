// Baseline: the bare proxy on the gateway's own stack (express 5 + http-proxy-middleware 4), static
// target, no checks. What the gateway costs is measured against this.
// Usage: node bench/servers/express-hpm.ts TARGET_URL (prints {"message":"listening","port":N})
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const target = process.argv[2] ?? 'http://127.0.0.1:8082';
const app = express();
app.disable('x-powered-by');
app.use(createProxyMiddleware({ target, changeOrigin: true }));
// Port 0: the kernel picks a free port, and the benchmark reads it from this line.
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ message: 'listening', port: (server.address() as AddressInfo).port })));
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
