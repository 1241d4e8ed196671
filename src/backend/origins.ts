import { Pool } from 'undici';
import type { BackendRule } from '../config/types.ts';

/** Envoy's default limit on a response head, which ESPv2 keeps (undici's own default is 16 KiB). */
export const MAX_RESPONSE_HEADER_BYTES = 60 * 1024;

/** One backend origin: its connection pool and how many exchanges it holds (running or queued). */
export interface Origin {
  readonly pool: Pool;
  inFlight: number;
  /** running + queued beyond which a new exchange is refused at once (Envoy's circuit breaker overflow). */
  readonly limit: number;
}

export interface OriginOptions {
  readonly maxConnections: number;
  readonly maxPending: number;
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
  }

  get(rule: BackendRule): Origin {
    const key = rule.protocol === 'h2' ? `h2 ${rule.origin}` : rule.origin;
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
        connect: { timeout: 10_000 },
      });
      // A pool's 'error'-like events are reported per request; keep stray connection errors from becoming unhandled.
      pool.on('connectionError', noop);
      o = {
        pool,
        inFlight: 0,
        // For h2 one connection carries many streams; the same bound is a fair cap on queued work.
        limit: this.opts.maxConnections + this.opts.maxPending,
      };
      this.byKey.set(key, o);
    }
    return o;
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
