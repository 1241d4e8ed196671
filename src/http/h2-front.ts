/**
 * HTTP/2 from clients, next to HTTP/1.1 on the same port: by ALPN on TLS,
 * and by the connection preface (prior knowledge, what Cloud Run sends to a
 * service deployed with --use-http2) on cleartext. One node:http2 server,
 * never listening itself, takes the connections that speak HTTP/2; the
 * HTTP/1.1 server takes the rest, so WebSocket upgrades, Node's parser
 * refusals and every HTTP/1.1 limit stay exactly as they are.
 */
import http2 from 'node:http2';
import type { Server, Socket } from 'node:net';
import type { RequestListener } from 'node:http';
import { asHttp1, GatewayH2Request, GatewayH2Response } from './h2-request.ts';

/**
 * Envoy's limits, as ESPv2 runs it: 100 concurrent streams per connection,
 * the 60 KiB header list of HTTP/1.1. Rapid reset (CVE-2023-44487): each
 * stream a client opens and cancels before its answer costs the gateway a
 * trip through the chain, so, as Envoy's premature-reset check does, a
 * connection whose premature resets reach `prematureResets` while being at
 * least half of its streams gets GOAWAY ENHANCE_YOUR_CALM and is closed; a
 * flood costs the attacker its connection, other clients are untouched.
 * nghttp2's own reset token bucket (Node's streamResetBurst/Rate) stays on
 * behind it.
 */
export const H2_LIMITS = {
  maxConcurrentStreams: 100,
  prematureResets: 100,
} as const;

/** The connection preface of HTTP/2 with prior knowledge (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface H2Front {
  /** Takes a connection that speaks HTTP/2 (negotiated, or its preface seen). */
  accept(socket: Socket): void;
  /** GOAWAY to every session: open streams finish, no new ones start. */
  drain(): void;
  /** Whatever is still open at the end of the grace period is cut. */
  destroy(): void;
}

/** `maxHeaderBytes`: the HTTP/1.1 header limit, advertised as SETTINGS_MAX_HEADER_LIST_SIZE. */
export function createH2Front(handler: RequestListener, maxHeaderBytes: number): H2Front {
  const server = http2.createServer({
    settings: { maxConcurrentStreams: H2_LIMITS.maxConcurrentStreams, maxHeaderListSize: maxHeaderBytes },
    // HTTP/1.1's bound on header lines (node:http's maxHeadersCount), so neither protocol takes fewer than the other.
    maxHeaderListPairs: 2000,
    Http2ServerRequest: GatewayH2Request,
    Http2ServerResponse: GatewayH2Response,
  } as http2.ServerOptions);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
    // A peer's protocol error ends its session only; never an unhandled 'error'.
    s.on('error', noop);
  });
  server.on('sessionError', noop);
  const counts = new WeakMap<http2.Http2Session, { streams: number; resets: number }>();
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    // A stream error (a reset mid-body) is the exchange's, answered or recorded there.
    stream.on('error', noop);
    const session = stream.session!;
    let c = counts.get(session);
    if (c === undefined) counts.set(session, (c = { streams: 0, resets: 0 }));
    c.streams++;
    stream.once('close', () => {
      // Premature: reset before the gateway had answered it.
      if (stream.rstCode === NO_ERROR || stream.headersSent) return;
      c.resets++;
      if (c.resets >= H2_LIMITS.prematureResets && c.resets * 2 >= c.streams && !session.destroyed) {
        session.goaway(ENHANCE_YOUR_CALM);
        // After GOAWAY has been written: the connection goes, whatever the client does next.
        setImmediate(() => session.destroy());
      }
    });
  });
  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => handler(...asHttp1(req, res)));
  return {
    accept: (socket) => void server.emit('connection', socket),
    drain: () => {
      for (const s of sessions) if (!s.closed) s.close();
    },
    destroy: () => {
      for (const s of sessions) s.destroy();
    },
  };
}

/**
 * Puts `route` in front of the server's own listener for `event` (Node's
 * HTTP/1.1 connection handling), which `route` calls for what is not HTTP/2.
 * The server keeps listening, tracking and timing out its HTTP/1.1
 * connections itself.
 */
export function divertConnections(server: Server, event: 'connection' | 'secureConnection', route: (socket: Socket, h1: (s: Socket) => void) => void): void {
  const own = server.listeners(event)[0] as ((s: Socket) => void) | undefined;
  if (own === undefined) throw new Error(`no ${event} listener to divert`);
  server.removeListener(event, own);
  const h1 = (s: Socket): void => own.call(server, s);
  server.on(event, (socket: Socket) => route(socket, h1));
}

/**
 * Cleartext: the first bytes decide. A connection opening with HTTP/2's
 * preface goes to `h2`; any other to `h1`. What was read is put back first.
 */
export function sniffPreface(socket: Socket, h1: (s: Socket) => void, h2: (s: Socket) => void, timeoutMs: number): void {
  let seen: Buffer = Buffer.alloc(0);
  // A client that never sends its first bytes holds nothing for long.
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const matches = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    // Undecided until the whole preface came, or a byte differs.
    if (matches && n < PREFACE.length) return;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.pause();
    socket.unshift(seen);
    if (matches) return h2(socket);
    h1(socket);
    // The HTTP/1.1 parser reads what arrives from now on; the bytes put back come first, from the stream.
    socket.resume();
  };
  const onError = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on('error', onError);
  socket.on('data', onData);
}

function noop(): void {}

const { NGHTTP2_NO_ERROR: NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM: ENHANCE_YOUR_CALM } = http2.constants;
