// The gateway as `serve` runs it, with express in front of its serving port: the measurement behind
// the choice to serve the API path on plain node:http (issue 21: keep express there only if it costs
// under 3 % CPU per request). Bench code only: the first server the CLI creates with a request
// handler (the serving port; the admin port comes later) gets an express app whose one middleware
// calls that handler, which is all express did on this path before.
// Usage: node gateway-express-front.ts serve ARGS...
import http from 'node:http';
import express from 'express';

const createServer = http.createServer;
let wrapped = false;
http.createServer = ((...args: unknown[]) => {
  const handler = args.find((a) => typeof a === 'function') as http.RequestListener | undefined;
  if (wrapped || handler === undefined) return (createServer as (...a: unknown[]) => http.Server)(...args);
  wrapped = true;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  app.use((req, res) => handler(req, res));
  const opts = args.find((a) => typeof a === 'object' && a !== null) ?? {};
  return createServer(opts as http.ServerOptions, app);
}) as typeof http.createServer;

await import('../../src/cli.ts');
