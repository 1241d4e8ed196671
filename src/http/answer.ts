/**
 * The one writer of every answer the gateway gives itself: ESP's JSON errors,
 * the sign-in pages and redirects (a GatewayError whose body is HTML), the
 * health and key documents, and the docs page's files. One place decides the
 * framing rules that every local answer shares:
 * - a response already started cannot be replaced: the connection is cut;
 * - HEAD gets the head without a body;
 * - an answer to a request whose body has not arrived closes the connection
 *   (Node would otherwise keep reading that body, for as long as the caller
 *   cares to send it, to reuse the connection), as Envoy does.
 * Imports nothing from the request chain, so every stage and the proxy can use it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../context.ts';
import type { GatewayError } from '../errors.ts';

export type Headers = Record<string, string | number | readonly string[]>;

/**
 * A body that has not all arrived. A request without body framing has none to wait for, even
 * while Node has not marked it complete yet (an answer given in the same tick as its head).
 */
function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** How long a connection closed with its request body still coming may take to close its side. */
const LINGER_MS = 5000;

/**
 * After an answer to a request whose body is still coming, the connection is half-closed and what
 * the caller still sends is read and dropped until it closes its side (or LINGER_MS pass): a socket
 * closed with unread input makes the kernel reset the connection, and a reset can destroy the
 * answer in the caller's buffers before it was read.
 */
function lingerAfter(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  res.req.resume();
  // Node ends and then destroys the socket of a `connection: close` answer through destroySoon.
  socket.destroySoon = function (this: typeof socket) {
    if (this.writable) this.end();
    this.resume();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
}

/** Writes a whole local answer: `headers` as given, Content-Length from the body. */
export function sendLocal(res: ServerResponse, status: number, headers: Headers, body: string | Buffer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const all: Headers = { ...headers, 'content-length': length };
  // HTTP/2 ends the stream, never the connection other streams share.
  if (bodyPending(res.req) && res.req.httpVersionMajor < 2) {
    all.connection = 'close';
    lingerAfter(res);
  }
  // Kept readable through getHeader: the access log's responseSize.
  res.setHeader('content-length', length);
  res.writeHead(status, all as Record<string, string | number | string[]>);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** A stage's refusal (ESP JSON, or a sign-in page): recorded on the context for the access log and metrics. */
export function sendError(res: ServerResponse, ctx: RequestContext | undefined, err: GatewayError): void {
  if (ctx) ctx.reason = err.reason;
  const headers: Headers = { 'content-type': 'application/json' };
  if (err.headers) Object.assign(headers, err.headers);
  sendLocal(res, err.status, headers, err.body());
}

/** A small JSON document the gateway serves (health, readiness, its public keys). */
export function sendJson(res: ServerResponse, status: number, json: string, headers: Headers = {}): void {
  sendLocal(res, status, { 'content-type': 'application/json', ...headers }, json);
}
