import http from 'node:http';
import type { Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from './observability/logger.ts';
import { Errors } from './errors.ts';
import { sendError } from './pipeline.ts';
import type { UpgradeHandler } from './backend/websocket.ts';

/** Envoy's default request-header limit, which ESPv2 keeps (reference 7). */
export const MAX_HEADER_BYTES = 60 * 1024;

export interface AppParts {
  readonly pipeline: (req: http.IncomingMessage, res: http.ServerResponse, next: NextFunction) => void;
  readonly proxy: (req: http.IncomingMessage, res: http.ServerResponse, next: NextFunction) => void;
  readonly logger: Logger;
  /** Runs once per request when its response is done or aborted (access log, metrics). */
  readonly onFinish?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Readiness for GET /readyz. */
  readonly ready?: () => { ready: boolean; why: string };
  /** True while shutting down: responses ask clients to close their connection. */
  readonly draining?: () => boolean;
  /** Public keys of the gateway's identity assertions, served at `path` (no key needed, never proxied). */
  readonly jwks?: { readonly path: string; readonly body: string };
  /** --cors-preset (src/cors/preset.ts): CORS headers on every response, preflights answered here. */
  readonly cors?: import('./cors/preset.ts').CorsPresetHandler | undefined;
  /** Answered by the gateway itself before the pipeline (the docs page): true when it answered. */
  readonly localRoutes?: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
}

/**
 * The express app: health first (it never reaches a backend or needs a key),
 * then the pipeline, then the proxy; anything thrown becomes ESP's JSON 500.
 */
export function createApp(parts: AppParts): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);

  const done = parts.onFinish;
  // One shared listener (no closure per request); 'close' also fires for aborted requests.
  function onClose(this: http.ServerResponse): void {
    done!(this.req, this);
  }
  const ready = parts.ready ?? (() => ({ ready: true, why: '' }));
  const draining = parts.draining ?? (() => false);
  const jwks = parts.jwks;
  // Any query string too: this path must never reach a backend.
  const isJwksPath = (url: string): boolean =>
    jwks !== undefined && url.startsWith(jwks.path) && (url.length === jwks.path.length || url.charCodeAt(jwks.path.length) === 0x3f);

  const cors = parts.cors;
  app.use((req: Request, res: Response, next: NextFunction) => {
    cors?.decorate(req, res);
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : '{"status":"ok"}');
        return;
      }
      if (req.url === '/readyz') {
        const r = ready();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(r.ready ? { status: 'ready' } : { code: 503, message: `not ready: ${r.why}` }));
        return;
      }
      if (isJwksPath(req.url)) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', 'content-length': Buffer.byteLength(jwks!.body) });
        res.end(req.method === 'HEAD' ? undefined : jwks!.body);
        return;
      }
    } else if (isJwksPath(req.url)) {
      const body = '{"code":405,"message":"Method Not Allowed"}';
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (parts.localRoutes?.(req, res)) return;
    if (draining()) res.setHeader('connection', 'close');
    if (done) res.once('close', onClose);
    if (cors?.answer(req, res)) return;
    next();
  });
  app.use(parts.pipeline);
  app.use(parts.proxy);
  // express 5 sends rejected promises here too.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    parts.logger.error({ err, method: req.method, path: req.path, requestId: req.gw?.requestId }, 'internal error while handling a request');
    sendError(res, req.gw, Errors.internal());
  });
  return app;
}

export interface Listener {
  readonly server: http.Server;
  readonly port: number;
  /** Stop accepting, let in-flight requests finish up to graceMs, then close what is left. */
  close(graceMs?: number): Promise<void>;
}

function rawError(status: number, text: string): string {
  const body = JSON.stringify({ code: status, message: text });
  return `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** Requests Node's parser refuses still get ESP's JSON form and never crash the process. */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const code = err.code;
  const reply =
    code === 'HPE_HEADER_OVERFLOW'
      ? rawError(431, 'Request Header Fields Too Large')
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? rawError(408, 'Request Timeout')
        : rawError(400, 'Bad Request');
  socket.end(reply);
}

export function listen(handler: http.RequestListener, port: number, host?: string, upgrades?: UpgradeHandler): Promise<Listener> {
  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      // Cloud Run's front end keeps connections open; stay open a bit longer than it does.
      keepAliveTimeout: 620_000,
      headersTimeout: 60_000,
      requestTimeout: 0,
      // Upgrades it declines (h2c) are served as plain requests.
      ...(upgrades ? { shouldUpgradeCallback: upgrades.shouldUpgrade } : {}),
    },
    handler,
  );
  server.on('clientError', onClientError);
  if (upgrades) server.on('upgrade', upgrades.handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        server,
        port: bound,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            // Stop accepting; idle keep-alive connections close now and as
            // in-flight requests finish; whatever is left at the deadline is cut.
            const sweep = setInterval(() => server.closeIdleConnections(), 50);
            // Upgraded sockets left the HTTP server: closeAllConnections misses them.
            const timer = setTimeout(() => {
              server.closeAllConnections();
              upgrades?.close();
            }, graceMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              clearInterval(sweep);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
