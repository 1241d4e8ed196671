/**
 * The listening sockets: Node's HTTP server with Envoy's header limit, ESP's
 * JSON for requests Node's parser refuses, upgrades handed to their handler,
 * and a graceful close.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { UpgradeHandler } from '../backend/websocket.ts';

/** Envoy's default request-header limit, which ESPv2 keeps (reference 7). */
export const MAX_HEADER_BYTES = 60 * 1024;

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
