import { buildConnector, Pool } from 'undici';
import type { BackendRule } from '../config/types.ts';
import { markBackendSocket, watchH2Resets } from './h2-resets.ts';
import type { BackendTls, TlsConnectOptions } from '../tls/backend-tls.ts';
import type { BackendTlsOverrides } from '../tls/backend-tls-overrides.ts';

/** Envoy's default limit on a response head, which ESPv2 keeps (undici's own default is 16 KiB). */
export const MAX_RESPONSE_HEADER_BYTES = 60 * 1024;

const CONNECT_TIMEOUT_MS = 10_000;

/** Prior-knowledge h2c (undici's own connector), its connections marked for the reset watch. */
function h2cConnector(timeout: number): buildConnector.connector {
  const base = buildConnector({ allowH2: true, useH2c: true, timeout } as buildConnector.BuildOptions);
  return (options, callback) =>
    base(options, (err, socket) => {
      if (err !== null) return callback(err, null);
      markBackendSocket(socket);
      callback(null, socket);
    });
}

/** One backend origin: its connection pool and how many exchanges it holds (running or queued). */
export interface Origin {
  readonly pool: Pool;
  inFlight: number;
  /** running + queued beyond which a new exchange is refused at once (Envoy's circuit breaker overflow). */
  readonly limit: number;
  /** Open WebSocket tunnels (each also counted in inFlight): each holds one backend connection for its life. */
  tunnels: number;
  /** The key of the x-endpoints-tls credentials it connects with; undefined: the gateway-wide ones. */
  readonly credentials?: string;
}

/** Raised when an https `protocol: h2` backend did not agree to HTTP/2 by ALPN. */
export const H2_NOT_NEGOTIATED = 'ERR_BACKEND_H2_NOT_NEGOTIATED';

/**
 * Envoy's h2 cluster offers only `h2` by ALPN and speaks HTTP/2 whatever the
 * backend answers, so a backend that only speaks HTTP/1.1 fails every call
 * (ESPv2 TestBackendHttpProtocol). undici would quietly fall back to HTTP/1.1,
 * hiding the misconfiguration: here that connection is refused instead.
 */
function h2OnlyConnector(timeout: number, tlsOptions?: TlsConnectOptions): buildConnector.connector {
  const base = buildConnector({ allowH2: true, preferH2: true, timeout, ...tlsOptions });
  return (options, callback) =>
    base(options, (err, socket) => {
      if (err !== null) return callback(err, null);
      if ((socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2') {
        markBackendSocket(socket);
        return callback(null, socket);
      }
      socket.destroy();
      const refused = Object.assign(new Error(`the backend did not negotiate HTTP/2 (ALPN: ${String((socket as { alpnProtocol?: string | false }).alpnProtocol || 'none')})`), { code: H2_NOT_NEGOTIATED });
      callback(refused, null);
    });
}

export interface OriginOptions {
  readonly maxConnections: number;
  readonly maxPending: number;
  /** --ssl-backend-client-*: the client certificate and roots for https backends; undefined: Node's defaults. */
  readonly tls?: BackendTls | undefined;
  /** x-endpoints-tls: a backend's own credentials, in place of `tls`. */
  readonly overrides?: BackendTlsOverrides | undefined;
}

/** How a pool connects: undici's own connector, or for https with backend TLS flags, one that follows their files. */
function connectFor(h2: boolean, scheme: string, tls: BackendTls | undefined): Pool.Options['connect'] {
  if (h2 && scheme !== 'https') return h2cConnector(CONNECT_TIMEOUT_MS);
  if (tls === undefined || scheme !== 'https') return h2 ? h2OnlyConnector(CONNECT_TIMEOUT_MS) : { timeout: CONNECT_TIMEOUT_MS };
  return tls.connector((t) => (h2 ? h2OnlyConnector(CONNECT_TIMEOUT_MS, t) : buildConnector({ timeout: CONNECT_TIMEOUT_MS, ...t })));
}

/**
 * One keep-alive pool per backend origin and protocol. `protocol: h2` means
 * HTTP/2: negotiated by ALPN on https, prior knowledge (h2c) on http, as
 * ESPv2; HTTP/1.1 otherwise (undici would offer h2 on TLS by default).
 */
export class Origins {
  private readonly byKey = new Map<string, Origin>();
  private readonly opts: OriginOptions;

  constructor(opts: OriginOptions) {
    this.opts = opts;
    opts.overrides?.onRelease((key) => this.dropCredentials(key));
  }

  get(rule: BackendRule): Origin {
    // A backend with its own credentials gets pools of its own: a pool's connections carry one client certificate.
    const creds = rule.tls === undefined ? undefined : this.opts.overrides?.of(rule.tls);
    const base = rule.protocol === 'h2' ? `h2 ${rule.origin}` : rule.origin;
    const key = creds === undefined ? base : `${base} tls ${creds.key}`;
    let o = this.byKey.get(key);
    if (o === undefined) {
      const h2 = rule.protocol === 'h2';
      const pool = new Pool(rule.origin, {
        connections: this.opts.maxConnections,
        pipelining: 1,
        maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
        // The exchange's own deadline and per-try timeout bound the waits.
        headersTimeout: 0,
        bodyTimeout: 0,
        allowH2: h2,
        ...(h2 && rule.scheme === 'http' ? { useH2c: true } : {}),
        connect: connectFor(h2, rule.scheme, creds === undefined ? this.opts.tls : creds.tls),
      });
      if (h2) watchH2Resets();
      // A pool's 'error'-like events are reported per request; keep stray connection errors from becoming unhandled.
      pool.on('connectionError', noop);
      o = {
        pool,
        inFlight: 0,
        // For h2 one connection carries many streams; the same bound is a fair cap on queued work.
        limit: this.opts.maxConnections + this.opts.maxPending,
        tunnels: 0,
        ...(creds === undefined ? {} : { credentials: creds.key }),
      };
      this.byKey.set(key, o);
    }
    return o;
  }

  /**
   * A WebSocket tunnel takes a backend connection for its whole life and never
   * waits in a queue: it is admitted only while the origin has a connection to
   * spare (Envoy's circuit breaker counts upgraded streams like any other).
   * undefined: the origin is full, answer 503 overflow.
   */
  acquireTunnel(rule: BackendRule): Origin | undefined {
    const o = this.get(rule);
    if (o.inFlight >= o.limit || o.tunnels >= this.opts.maxConnections) return undefined;
    o.inFlight++;
    o.tunnels++;
    return o;
  }

  releaseTunnel(o: Origin): void {
    o.inFlight--;
    o.tunnels--;
  }

  /** Credentials no served spec names any more: their pools finish what they carry, then close. */
  private dropCredentials(credentials: string): void {
    for (const [key, o] of this.byKey) {
      if (o.credentials !== credentials) continue;
      this.byKey.delete(key);
      void o.pool.close().catch(noop);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.byKey.values()].map((o) => o.pool);
    this.byKey.clear();
    // In-flight exchanges have had the listener's grace period; whatever is left is cut.
    await Promise.all(
      pools.map(async (p) => {
        const timer = setTimeout(() => void p.destroy().catch(noop), 1000);
        await p.close().catch(noop);
        clearTimeout(timer);
      }),
    );
  }
}

function noop(): void {}
