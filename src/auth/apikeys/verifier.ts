/**
 * API-key verification: store + cache + per-request restrictions.
 *
 * Cache (lru-cache, keyed by the key's SHA-256, never the key):
 * - a valid key's verdict is fresh for `refreshMs`; after that the cached
 *   verdict keeps serving while one background refresh runs (lru-cache
 *   `allowStale` + `fetchMethod`), up to `maxAgeMs` since it was last verified;
 * - an invalid key is remembered for `negativeTtlMs`;
 * - concurrent misses for one key share one store call (`fetch` single-flight);
 * - during an outage a verdict younger than `maxAgeMs` keeps serving (re-tried
 *   at most every `outageRetryMs`, so an outage is not one upstream call per
 *   request); a key with no usable verdict is refused 503, or admitted as
 *   UNVERIFIED_RECORD (project '') when `failOpen`.
 * Restrictions depend on the request (IP, referrer, app, method) and are
 * checked on every request against the cached record.
 */
import { LRUCache } from 'lru-cache';
import { Errors, type GatewayError } from '../../errors.ts';
import { fingerprint, hashKey, NOOP_LOGGER, UNVERIFIED_RECORD, type KeyRecord, type Logger } from './key-record.ts';
import { checkRestrictions, type RequestFacts } from './restrictions.ts';
import { NOT_PERMITTED, type KeyStore } from './store.ts';

export interface ApiKeyVerifierStats {
  /** Fresh valid verdicts served from the cache. */
  hits: number;
  /** Requests that waited for the store (cold, expired, joined an in-flight call). */
  misses: number;
  /** Valid verdicts older than the refresh interval served (refresh under way, or outage). */
  staleServes: number;
  /** Invalid verdicts served from the cache. */
  negativeHits: number;
  /** Store lookups made. */
  upstreamCalls: number;
  /** Store lookups that failed (outage). */
  upstreamErrors: number;
  /** Keys admitted unverified during an outage. */
  failOpen: number;
  /** Keys refused 503 during an outage. */
  failClosed: number;
  /** Keys refused without any lookup (empty, too long, characters no key has). */
  malformed: number;
}

/** A verified key: its record plus what the request path needs to identify it (never the key). */
export interface VerifiedKey extends KeyRecord {
  /** hashKey(key): for per-key quota buckets and the like. */
  readonly keyHash: string;
  /** fingerprint(keyHash): for logs. */
  readonly fingerprint: string;
}

export interface ApiKeyVerifier {
  /**
   * The record of a verified key, or the GatewayError to answer with (invalid →
   * 400, restriction → 403, outage → 503). Never rejects.
   */
  verify(key: string, facts: RequestFacts): Promise<VerifiedKey | GatewayError>;
  /** The same verdict when it is at hand (a malformed key, a fresh cached verdict); undefined: call verify. */
  verifyNow(key: string, facts: RequestFacts): VerifiedKey | GatewayError | undefined;
  readonly stats: Readonly<ApiKeyVerifierStats>;
  close(): void;
}

export interface ApiKeyVerifierOptions {
  /** Default 10,000. */
  maxEntries?: number;
  /** Default 5 min. */
  refreshMs?: number;
  /** Default 1 h. */
  maxAgeMs?: number;
  /** Default 30 s. */
  negativeTtlMs?: number;
  /** During an outage, how long a cached verdict is served before the store is tried again. Default 10 s. */
  outageRetryMs?: number;
  /** Default false (fail closed). */
  failOpen?: boolean;
  log?: Logger;
}

interface Verdict {
  /** null: the key is invalid. */
  readonly record: VerifiedKey | null;
  /** With record null: the key service would not tell us about this key (PERMISSION_DENIED). */
  readonly notPermitted?: boolean;
  /** When the store last confirmed this verdict (ms epoch). */
  readonly verifiedAt: number;
}

// Real keys are `AIza` + 35 URL-safe characters; anything outside this shape
// cannot be a key of either store, so it is refused without a lookup.
const KEY_SHAPE = /^[A-Za-z0-9_\-.~]{1,256}$/;

/** get() options of the warm path, shared (lru-cache only sets their `status`, to undefined): no object per lookup. */
const FRESH_ONLY: LRUCache.GetOptions<string, Verdict, string> = { allowStale: false, noDeleteOnStaleGet: true };

export function createApiKeyVerifier(store: KeyStore, opts: ApiKeyVerifierOptions = {}): ApiKeyVerifier {
  const refreshMs = opts.refreshMs ?? 5 * 60_000;
  const maxAgeMs = Math.max(opts.maxAgeMs ?? 60 * 60_000, refreshMs);
  const negativeTtlMs = opts.negativeTtlMs ?? 30_000;
  const outageRetryMs = opts.outageRetryMs ?? 10_000;
  const failOpen = opts.failOpen ?? false;
  const log = opts.log ?? NOOP_LOGGER;
  const stats: ApiKeyVerifierStats = {
    hits: 0, misses: 0, staleServes: 0, negativeHits: 0, upstreamCalls: 0, upstreamErrors: 0, failOpen: 0, failClosed: 0, malformed: 0,
  };

  const cache = new LRUCache<string, Verdict, string>({
    max: opts.maxEntries ?? 10_000,
    ttl: refreshMs,
    allowStale: true,
    // clear() (store reloaded) and eviction abort in-flight fetches; the
    // requests waiting on them should still get the store's answer, not a 503.
    ignoreFetchAbort: true,
    // fetchMethod(hash, staleVerdict, { options, context: key })
    fetchMethod: async (hash, stale, { options, context: key }) => {
      stats.upstreamCalls++;
      try {
        const found = await store.lookup(key, hash);
        if (found === null || found === NOT_PERMITTED) {
          options.ttl = negativeTtlMs;
          return found === null ? { record: null, verifiedAt: Date.now() } : { record: null, notPermitted: true, verifiedAt: Date.now() };
        }
        // Built once per lookup, so serving a cached key allocates nothing.
        const { verifiedAt = Date.now(), ...fields } = found;
        const record: VerifiedKey = { ...fields, keyHash: hash, fingerprint: fingerprint(hash) };
        // Confirmed earlier (by a cluster's primary): fresh for what is left of the refresh interval, as in one process.
        if (found.verifiedAt !== undefined) options.ttl = Math.max(1, refreshMs - (Date.now() - verifiedAt));
        return { record, verifiedAt };
      } catch (err) {
        stats.upstreamErrors++;
        const now = Date.now();
        const usable = stale !== undefined && now - stale.verifiedAt < maxAgeMs;
        log.warn(
          { key: fingerprint(hash), err: err instanceof Error ? err.message : String(err), servingCached: usable },
          'API Keys service unavailable',
        );
        if (!usable) throw err;
        // Keep the old verdict (and its verifiedAt, so maxAge still holds) for a short while.
        options.ttl = Math.max(1, Math.min(outageRetryMs, stale.verifiedAt + maxAgeMs - now));
        return stale;
      }
    },
  });

  function outage(hash: string, requestId: string | undefined): VerifiedKey | GatewayError {
    if (failOpen) {
      stats.failOpen++;
      log.warn({ key: fingerprint(hash), requestId }, 'API key admitted unverified (fail-open)');
      return { ...UNVERIFIED_RECORD, keyHash: hash, fingerprint: fingerprint(hash) };
    }
    stats.failClosed++;
    log.warn({ key: fingerprint(hash), requestId }, 'API key refused: API Keys service unavailable (fail-closed)');
    return Errors.keysUnavailable();
  }

  function judge(v: Verdict, facts: RequestFacts): VerifiedKey | GatewayError {
    if (v.record === null) return v.notPermitted ? Errors.serviceNotActivated(facts.serviceName) : Errors.apiKeyInvalid();
    return checkRestrictions(v.record, facts) ?? v.record;
  }

  /** The common case on a warm gateway, answered without a promise: a malformed key, or a fresh verdict. */
  function verifyNow(key: string, facts: RequestFacts): VerifiedKey | GatewayError | undefined {
    if (!KEY_SHAPE.test(key)) {
      stats.malformed++;
      return Errors.apiKeyInvalid();
    }
    return fresh(hashKey(key), facts);
  }

  function fresh(hash: string, facts: RequestFacts): VerifiedKey | GatewayError | undefined {
    // One lookup: nothing for a missing, stale or still-fetching entry (kept for the refresh), else the verdict, recency updated.
    const v = cache.get(hash, FRESH_ONLY);
    if (v === undefined || (v.record !== null && Date.now() - v.verifiedAt > refreshMs)) return undefined;
    if (v.record === null) stats.negativeHits++;
    else stats.hits++;
    return judge(v, facts);
  }

  async function verify(key: string, facts: RequestFacts): Promise<VerifiedKey | GatewayError> {
    if (!KEY_SHAPE.test(key)) {
      stats.malformed++;
      return Errors.apiKeyInvalid();
    }
    const hash = hashKey(key);
    const now = fresh(hash, facts);
    if (now !== undefined) return now;
    const status: LRUCache.Status<string, Verdict, string> = {};
    let v: Verdict | undefined;
    try {
      v = await cache.fetch(hash, { context: key, status });
      const now = Date.now();
      if (v !== undefined && status.returnedStale && (v.record === null || now - v.verifiedAt >= maxAgeMs)) {
        // An expired negative, or a verdict past its maximum age: wait for the
        // refresh this fetch started (joins it; no second call).
        stats.misses++;
        v = await cache.fetch(hash, { context: key, allowStale: false });
      } else if (status.fetch === 'miss' || (status.fetch === 'inflight' && !status.returnedStale)) {
        stats.misses++;
      } else if (v !== undefined) {
        if (v.record === null) stats.negativeHits++;
        else if (now - v.verifiedAt > refreshMs) stats.staleServes++;
        else stats.hits++;
      }
    } catch {
      return outage(hash, facts.requestId);
    }
    if (v === undefined) return outage(hash, facts.requestId);
    return judge(v, facts);
  }

  store.onChange?.(() => cache.clear());

  return {
    verify,
    verifyNow,
    stats,
    close() {
      cache.clear();
      store.close();
    },
  };
}
