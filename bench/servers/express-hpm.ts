// Baseline: the bare proxy on the gateway's own stack (express 5 + http-proxy-middleware 4), static
// target, no checks. What the gateway costs is measured against this.
// Usage: node bench/servers/express-hpm.ts PORT TARGET_URL
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const port = Number(process.argv[2] ?? 0);
const target = process.argv[3] ?? 'http://127.0.0.1:8082';
const app = express();
app.disable('x-powered-by');
app.use(createProxyMiddleware({ target, changeOrigin: true }));
const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
