// Starts the gateway in this process and serves its request handler either directly (node) or behind express.
import express from 'express';
import http from 'node:http';
import { startGateway } from '../src/gateway.ts';
import { createLogger } from '../src/observability/logger.ts';
const [front, spec] = [process.argv[2]!, process.argv[3]!];
const logger = createLogger({ level: 'info', destination: { write: () => true } as any });
const gw = await startGateway({ specFile: spec, port: 0, host: '127.0.0.1', backendAuth: 'none', keys: 'none', trustedHops: 0, logger, accessLog: true, adminPort: 0 });
let port = gw.port;
if (front === 'express') {
  const handler = gw.listener.server.listeners('request')[0] as http.RequestListener;
  const app = express();
  app.disable('x-powered-by'); app.set('etag', false); app.set('query parser', false);
  app.use((req, res) => handler(req, res));
  const s = http.createServer({ keepAliveTimeout: 620_000 }, app).listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  port = (s.address() as any).port;
}
process.stdout.write(`PORT ${port}\n`);
process.on('SIGTERM', () => process.exit(0));
