/**
 * The listening sockets: Node's HTTP server with Envoy's header limit, ESP's
 * JSON for requests Node's parser refuses, upgrades handed to their handler,
 * and a graceful close.
 */
import http from 'node:http';
import https from 'node:https';
import type { Server, Socket } from 'node:net';
import type { UpgradeHandler } from '../backend/websocket.ts';
import type { ServerTls } from '../tls/server-tls.ts';
import { createH2Front, divertConnections, sniffPreface, type H2Front } from './h2-front.ts';

/** Envoy's default request-header limit, which ESPv2 keeps (reference 7). */
export const MAX_HEADER_BYTES = 60 * 1024;

/** What the serving port speaks besides cleartext HTTP/1.1; absent: only that, exactly as before. */
export interface FrontOptions {
  /** HTTPS: HTTP/2 by ALPN, HTTP/1.1 otherwise. */
  readonly tls?: ServerTls | undefined;
  /** Cleartext: HTTP/2 with prior knowledge next to HTTP/1.1 (ignored with tls). */
  readonly h2c?: boolean | undefined;
}

/** How long a cleartext connection may take to send the bytes that tell HTTP/2 from HTTP/1.1 (the HTTP/1.1 header timeout). */
const SNIFF_TIMEOUT_MS = 60_000;

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

export function listen(handler: http.RequestListener, port: number, host?: string, upgrades?: UpgradeHandler, front?: FrontOptions): Promise<Listener> {
  const tlsOptions = front?.tls ? { ...front.tls.options, ALPNProtocols: ['h2', 'http/1.1'] } : undefined;
  const options: http.ServerOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    // Cloud Run's front end keeps connections open; stay open a bit longer than it does.
    keepAliveTimeout: 620_000,
    headersTimeout: 60_000,
    requestTimeout: 0,
    // Upgrades it declines (h2c) are served as plain requests.
    ...(upgrades ? { shouldUpgradeCallback: upgrades.shouldUpgrade } : {}),
  };
  // https.Server is node:http's server on TLS: the same options, parser and connection tracking.
  const server: http.Server = tlsOptions ? https.createServer({ ...options, ...tlsOptions }, handler) : http.createServer(options, handler);
  server.on('clientError', onClientError);
  if (upgrades) server.on('upgrade', upgrades.handle);
  let h2: H2Front | undefined;
  if (front?.tls) {
    const h2f = (h2 = createH2Front(handler, MAX_HEADER_BYTES));
    divertConnections(server, 'secureConnection', (socket, h1) => ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2' ? h2f.accept(socket) : h1(socket)));
    // A failed handshake (no client certificate, an old protocol) ends that connection only.
    server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
    front.tls.follow(server as https.Server);
  } else if (front?.h2c) {
    const h2f = (h2 = createH2Front(handler, MAX_HEADER_BYTES));
    divertConnections(server, 'connection', (socket, h1) => sniffPreface(socket, h1, h2f.accept, SNIFF_TIMEOUT_MS));
  }
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
              h2?.destroy();
              upgrades?.close();
            }, graceMs);
            // HTTP/2 sessions get GOAWAY: their open streams finish, new ones go elsewhere.
            h2?.drain();
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              front?.tls?.close();
              clearInterval(sweep);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
