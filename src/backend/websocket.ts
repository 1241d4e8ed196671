import { STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { newContext, type RequestContext } from '../context.ts';
import { Errors, GatewayError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { BackendRule } from '../config/types.ts';
import { classify, failureAnswer, Failures } from './upstream-errors.ts';
import type { AttemptSpan } from '../tracing/request-trace.ts';

/**
 * WebSocket upgrades as ESPv2 does them: its HCM always has
 * `upgrade_configs: websocket` (esp-v2 src/go/configgenerator/filtergen/
 * http_connection_manager.go), so an upgrade runs the whole filter chain (route,
 * JWT, key, quota, ID token, path translation) and only then is tunnelled.
 * http-proxy-middleware (httpxy) is the tunnel; this module decides what may
 * reach it and answers everything else on the raw socket in ESP's JSON form.
 */
export interface UpgradeOptions {
  /** The pipeline's `run`: the same stages as a plain request, rewriting req.url and headers. */
  readonly run: (req: IncomingMessage, ctx: RequestContext) => Promise<GatewayError | undefined>;
  /** false (--no-websockets): every upgrade is refused 403, as Envoy without upgrade_configs. */
  readonly enabled: boolean;
  readonly logger?: Logger | undefined;
  /** A backend failure the gateway answered for or that ended a tunnel (kind: timeout, connect_refused, reset, ...). */
  readonly onUpstreamError?: ((req: IncomingMessage, kind: string, err: Error) => void) | undefined;
  /**
   * Once per upgrade request, when its client connection is gone: status is
   * 101 for a WebSocket that was open, the status answered otherwise, 0 when
   * the client left before any answer. For the access log and metrics.
   */
  readonly onFinish?: ((req: IncomingMessage, status: number) => void) | undefined;
  /** The backend proxy's per-origin connection budget (--backend-max-connections); undefined: unbounded. */
  readonly slots?: TunnelSlots | undefined;
  /** ESPv2's stream idle timeout (default 5 min): an open tunnel with no byte either way this long is closed. */
  readonly streamIdleTimeoutMs?: number | undefined;
  /** Upgrade connections at once (src/downstream-limit.ts tunnelLimit); past it, 503. 0 or undefined: no bound. */
  readonly maxOpen?: number | undefined;
}

/** What a tunnel takes from its backend origin's connection budget (src/backend/origins.ts). */
export interface TunnelSlots {
  /** A slot, or undefined when the origin is full. */
  acquireTunnel(rule: BackendRule): object | undefined;
  releaseTunnel(slot: object): void;
}

/** ESPv2's default stream idle timeout (util.DefaultIdleTimeout). */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface UpgradeHandler {
  /** For http.createServer's shouldUpgradeCallback: which upgrade requests come to `handle`. */
  shouldUpgrade(req: IncomingMessage): boolean;
  /** The server's 'upgrade' listener. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Cuts every open WebSocket and pending upgrade (both sides); later upgrades are dropped. */
  close(): void;
  /** Upgrade connections still open (tests, metrics). */
  readonly open: number;
}

/** One upgrade request from its 'upgrade' event until its client connection closes. */
interface Tunnel {
  readonly req: IncomingMessage;
  readonly client: Duplex;
  readonly ctx: RequestContext;
  proxyReq: ClientRequest | undefined;
  backend: Socket | undefined;
  /** What the client got: 0 nothing yet, 101 a WebSocket, else the status written. */
  status: number;
  clientFailed: boolean;
  done: boolean;
  /** Its place in the origin's connection budget, held until both sides are closed. */
  slot: object | undefined;
  /** The backend call's client span, for a sampled request (src/tracing/): from the upgrade request to the tunnel's end. */
  span: AttemptSpan | undefined;
}

/** How long a closed side's peer may take to flush before it is cut. */
const LINGER_MS = 5000;
/**
 * After a declined upgrade's answer is written, how long the client may take
 * to close before it is cut (Envoy's delayed_close_timeout default, 1 s).
 */
const DELAYED_CLOSE_MS = 1000;

/**
 * The idle timeout of a route (ESPv2 calculateStreamIdleTimeout): never below
 * the operation's deadline plus a second, so that the deadline always fires first.
 */
export function tunnelIdleTimeout(deadlineMs: number, streamIdleTimeoutMs: number): number {
  return Math.max(deadlineMs + 1000, streamIdleTimeoutMs);
}

/**
 * Envoy answers an upgrade its HCM has no upgrade_config for with a local 403
 * (`upgrade_failed`, stat downstream_rq_ws_on_non_ws_route, "applies both to
 * WebSocket and non-WebSocket upgrades"; envoy source/common/http/conn_manager_impl.cc).
 * Its body is empty there; ESP's JSON form needs a message, so we say why.
 */
const UNSUPPORTED = new GatewayError(403, 'Only WebSocket upgrades are supported by this gateway.', 'upgrade_failed');
const DISABLED = new GatewayError(403, 'WebSocket upgrades are not supported by this gateway.', 'upgrade_failed');
/** Past --downstream-max-connections' share for WebSockets: refused so plain requests keep their room. */
const TOO_MANY = new GatewayError(503, 'Too many open WebSocket connections.', 'websocket_limit');
/** RFC 6455 4.1: the opening handshake is a GET. */
const NOT_GET = Errors.badRequest('WebSocket upgrades must use GET.');

function rawReply(err: GatewayError): string {
  const body = err.body();
  let head = `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n`;
  if (err.headers) for (const [k, v] of Object.entries(err.headers)) head += `${k}: ${v}\r\n`;
  return `${head}\r\n${body}`;
}

function isWebSocket(upgrade: string | undefined): boolean {
  return upgrade !== undefined && upgrade.trim().toLowerCase() === 'websocket';
}

/** Ends `sock` and cuts it if its peer has not closed within LINGER_MS. */
function endSoon(sock: Duplex): void {
  if (sock.destroyed) return;
  sock.end();
  setTimeout(() => sock.destroy(), LINGER_MS).unref();
}

type HpmModule = typeof import('http-proxy-middleware');
type HpmProxy = ReturnType<HpmModule['createProxyMiddleware']>;

export function createUpgradeHandler(opts: UpgradeOptions): UpgradeHandler {
  const live = new Set<Tunnel>();
  const byReq = new WeakMap<IncomingMessage, Tunnel>();
  const targets = new Map<string, URL>();
  const idleMs = opts.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
  const maxOpen = opts.maxOpen ?? 0;
  let closed = false;

  /** Answers `err` on the raw socket unless something was sent already, then closes it. */
  function refuse(t: Tunnel, err: GatewayError): void {
    const c = t.client;
    t.ctx.reason ??= err.reason;
    if (t.status !== 0 || !c.writable) {
      c.destroy();
      return;
    }
    t.status = err.status;
    // Read and drop what the client still sends: closing with unread input
    // makes the kernel reset the connection, which can lose the answer.
    c.resume();
    c.end(rawReply(err));
    setTimeout(() => c.destroy(), LINGER_MS).unref();
  }

  function release(t: Tunnel): void {
    const slot = t.slot;
    if (slot === undefined) return;
    t.slot = undefined;
    opts.slots!.releaseTunnel(slot);
  }

  function finish(t: Tunnel): void {
    if (t.done) return;
    t.done = true;
    live.delete(t);
    clearTimeout(t.ctx.timer);
    if (t.status !== 101) t.proxyReq?.destroy();
    const b = t.backend;
    if (b) {
      if (t.clientFailed) b.destroy();
      else endSoon(b);
    }
    // The backend connection counts until it is gone too.
    if (b === undefined || b.destroyed) release(t);
    else b.once('close', () => release(t));
    t.span?.end();
    opts.onFinish?.(t.req, t.status);
  }

  /** No byte either way for the route's idle timeout: the tunnel (or a declined answer nobody reads) is closed. */
  function armIdle(t: Tunnel): void {
    const ms = tunnelIdleTimeout(t.ctx.rule!.deadlineMs, idleMs);
    // Every byte relayed either way is read or written on the client socket, which resets its timer.
    (t.client as Socket).setTimeout(ms, () => {
      if (t.done) return;
      t.ctx.reason ??= 'stream_idle_timeout';
      opts.logger?.info({ operation: t.ctx.op?.id, requestId: t.ctx.requestId, idleTimeoutMs: ms }, 'stream idle timeout: WebSocket closed');
      t.backend?.destroy();
      t.proxyReq?.destroy();
      t.client.destroy();
    });
  }

  function onDeadline(t: Tunnel): void {
    // The operation's deadline bounds the wait for the backend's 101, not the
    // WebSocket (Envoy disarms the route timeout on the upgrade response, envoy#41075).
    if (t.status !== 0 || t.done) return;
    t.ctx.timedOut = true;
    t.span?.fail('timeout');
    opts.onUpstreamError?.(t.req, 'timeout', new Error('deadline exceeded before the backend accepted the upgrade'));
    refuse(t, Errors.upstreamTimeout());
    t.proxyReq?.destroy();
  }

  // The proxy library loads at the first upgrade, not at start: most APIs never see one, and
  // it is among the costliest modules to load (while it loads, the chain checks the upgrade).
  let hpm: Promise<HpmProxy> | undefined;
  const proxy = (): Promise<HpmProxy> => (hpm ??= import('http-proxy-middleware').then(makeProxy));
  const makeProxy = ({ createProxyMiddleware, proxyEventsPlugin }: HpmModule): HpmProxy => createProxyMiddleware<IncomingMessage>({
    router: (req) => {
      const origin = req.gw!.rule!.origin;
      let url = targets.get(origin);
      if (url === undefined) {
        url = new URL(origin);
        targets.set(origin, url);
      }
      return url as unknown as string;
    },
    // The pipeline already set Host, X-Forwarded-* policy and the path.
    changeOrigin: false,
    xfwd: false,
    ejectPlugins: true,
    plugins: [proxyEventsPlugin],
    on: {
      proxyReqWs: (proxyReq, req) => {
        const t = byReq.get(req);
        if (!t) return;
        t.proxyReq = proxyReq;
        // Before httpxy's own listeners (it adds them after this event).
        proxyReq.once('upgrade', (_res: IncomingMessage, backend: Socket) => {
          t.status = 101;
          t.backend = backend;
          t.span?.status(101);
          clearTimeout(t.ctx.timer);
          if (t.done) {
            backend.destroy();
            return;
          }
          armIdle(t);
          backend.once('close', () => {
            if (!t.done) endSoon(t.client);
          });
        });
        proxyReq.once('response', (res: IncomingMessage) => {
          // A backend that declines (non-101): httpxy relays its answer with
          // `connection: close`, as Envoy relays any upstream response.
          t.status = res.statusCode ?? 502;
          t.span?.status(t.status);
          clearTimeout(t.ctx.timer);
          t.client.resume();
          // httpxy ends the client socket after the answer but leaves it half-open; Envoy closes it.
          t.client.once('finish', () => setTimeout(() => t.client.destroy(), DELAYED_CLOSE_MS).unref());
          armIdle(t);
        });
      },
      error: (err, req) => {
        const t = byReq.get(req);
        if (!t || t.done || t.ctx.timedOut) return;
        if (t.clientFailed) {
          t.proxyReq?.destroy();
          t.backend?.destroy();
          return;
        }
        // Classified and worded as the HTTP proxy does (Envoy's reset reasons).
        const f = classify(err);
        t.span?.fail(f.kind);
        opts.onUpstreamError?.(req, f.kind, err);
        if (t.status === 0) refuse(t, failureAnswer(f, false));
        else t.client.destroy();
      },
    },
  });

  function tunnel(t: Tunnel, head: Buffer, hpm: HpmProxy): void {
    const ctx = t.ctx;
    if (opts.slots !== undefined) {
      t.slot = opts.slots.acquireTunnel(ctx.rule!);
      if (t.slot === undefined) {
        // Envoy's circuit breaker: the origin's connections are all taken, answer at once.
        opts.onUpstreamError?.(t.req, 'overflow', new Error('backend connection limit reached (WebSocket)'));
        return refuse(t, failureAnswer(Failures.overflow, false));
      }
    }
    ctx.upstreamStartNs = process.hrtime.bigint();
    ctx.timer = setTimeout(onDeadline, ctx.rule!.deadlineMs, t);
    if (ctx.trace !== undefined) t.span = ctx.trace.attempt(t.req.headers, 1, ctx.rule!, 'GET');
    // hpm's external-upgrade entry point: router → httpxy ws pass (GET +
    // `Upgrade: websocket` checked, head replayed, 101 relayed, sockets piped).
    hpm.upgrade(t.req, t.client as Socket, head);
  }

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (closed) {
      socket.destroy();
      return;
    }
    // The context keeps what the client asked (the chain rewrites req.url for the backend).
    const ctx = newContext(req);
    req.gw = ctx;
    const t: Tunnel = { req, client: socket, ctx, proxyReq: undefined, backend: undefined, status: 0, clientFailed: false, done: false, slot: undefined, span: undefined };
    live.add(t);
    byReq.set(req, t);
    // The socket left Node's HTTP server: without our listener a client reset would crash the process.
    socket.on('error', () => {
      t.clientFailed = true;
    });
    socket.once('close', () => finish(t));

    if (!isWebSocket(req.headers.upgrade)) return refuse(t, UNSUPPORTED);
    if (!opts.enabled) return refuse(t, DISABLED);
    if (req.method !== 'GET') return refuse(t, NOT_GET);
    if (maxOpen > 0 && live.size > maxOpen) {
      opts.logger?.warn({ open: live.size - 1, maxOpen }, 'WebSocket refused: the WebSocket share of --downstream-max-connections is taken');
      return refuse(t, TOO_MANY);
    }
    Promise.all([opts.run(req, ctx), proxy()]).then(
      ([err, hpm]) => {
        if (t.done) return;
        if (err !== undefined) return refuse(t, err);
        // X-HTTP-Method-Override may have changed the method.
        if (req.method !== 'GET') return refuse(t, NOT_GET);
        if (closed) return void socket.destroy();
        tunnel(t, head, hpm);
      },
      (err: unknown) => {
        // The operation, not the URL: a query may carry an API key.
        opts.logger?.error({ err, operation: ctx.op?.id, requestId: ctx.requestId }, 'internal error while handling an upgrade');
        if (!t.done) refuse(t, Errors.internal());
      },
    );
  }

  return {
    shouldUpgrade(req) {
      // Envoy's HTTP/1 codec ignores h2c upgrades ("until we support them",
      // envoy source/common/http/http1/codec_impl.cc): the request goes on as a
      // plain one without its Upgrade and HTTP2-Settings headers (the pipeline's
      // hop-by-hop removal then drops the Connection tokens).
      const up = req.headers.upgrade;
      if (up !== undefined && up.trim().toLowerCase() === 'h2c') {
        delete req.headers.upgrade;
        delete req.headers['http2-settings'];
        return false;
      }
      return true;
    },
    handle,
    close() {
      closed = true;
      for (const t of live) {
        t.proxyReq?.destroy();
        t.backend?.destroy();
        t.client.destroy();
      }
    },
    get open() {
      return live.size;
    },
  };
}
