/**
 * Quota enforcement: charges an operation's `x-google-quota.metricCosts` to
 * the consumer against the service's `quota.limits`.
 *
 * Where ESP delegates to Service Control (which counts per consumer project
 * and answers asynchronously), we count locally or in Redis and answer
 * exactly: with a limit of N per window the N+1st call in the window is
 * refused.
 *
 * Windows are rate-limiter-flexible's fixed windows of `windowSeconds`: a
 * window starts at the first call charged to a consumer (and lasts
 * `windowSeconds` from there), not on the wall-clock minute/hour/day.
 *
 * Refunds: a call is charged to every limit its metrics have, in parallel.
 * If any limit refuses, every limit that admitted it is given its points back
 * (`reward`), and so is a refusing limit that still had room for part of the
 * cost; so a refused call consumes nothing. Refunds are awaited before the 429
 * is returned so the next call sees them. (With Redis, during the moment an
 * outage starts or ends a refund may land in the other store; the error is
 * bounded by one call's cost.)
 *
 * Failures: quota never fails a request because of its store. Redis down or
 * slower than `storeTimeoutMs` ⇒ this instance's in-memory counters answer
 * (counted in `stats.fallbacks`); any other unexpected limiter error admits
 * the call (counted in `stats.storeErrors`), as ESP treats quota transport
 * failures as OK.
 *
 * Reloads: createQuotaRuntime lives as long as the process (one Redis client
 * at most); each config gets an enforcer from it, and a limit defined as
 * before keeps its limiter, so its counters carry on.
 */
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { MetricCost, QuotaLimit } from '../config/types.ts';
import { GatewayError } from '../errors.ts';
import { memoryStore, parseQuotaStore, redisStore, type Limiter, type LimiterStore } from './store.ts';

export interface QuotaConsumer {
  /** The consumer project: the API key's project, or the producer project for calls without a key. */
  readonly project: string;
  /** SHA-256 hex of the API key, for per-key limits; absent without a key */
  readonly keyHash?: string | undefined;
  /** The verified end user's claims (JWT or sign-in session), for `{user}` and `{claim.NAME}` limits. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

export interface QuotaStats {
  /** Charges that consulted at least one limiter. */
  checks: number;
  /** Charges refused with 429. */
  refusals: number;
  /** Limiter calls answered by the per-instance memory fallback because Redis was down or slow. */
  fallbacks: number;
  /** Redis connection errors, plus unexpected limiter errors (those calls were admitted). */
  storeErrors: number;
}

export interface QuotaEnforcer {
  /**
   * Charge the operation's metric costs to the consumer. Resolves null when
   * admitted, or the 429 GatewayError (Retry-After in its headers, whole
   * seconds, >= 1). Never rejects. A refused call consumes nothing.
   */
  charge(costs: readonly MetricCost[], consumer: QuotaConsumer): Promise<GatewayError | null>;
  readonly stats: Readonly<QuotaStats>;
  /** Where counters live, for logs: 'memory' or the Redis address without credentials. */
  readonly store: string;
  /** Resolves true once the store is connected (at once for memory), false after timeoutMs (default 2000). */
  ready(timeoutMs?: number): Promise<boolean>;
  /** createQuotaEnforcer's: disconnects Redis. A runtime's (enforcerFor): nothing, the runtime owns the store. */
  close(): Promise<void>;
}

export type QuotaLog = (level: 'warn' | 'info', msg: string, fields?: object) => void;

export interface QuotaRuntimeOptions {
  /** undefined → memory; 'redis://h:p', 'rediss://…', 'unix:///path.sock' or '/path.sock'. */
  readonly store?: string;
  /** Bound on each Redis command before falling back to memory; default 50. */
  readonly storeTimeoutMs?: number;
  /** Prefix of every limiter key; default 'egw:quota'. */
  readonly keyPrefix?: string;
  readonly log?: QuotaLog;
}

export interface QuotaEnforcerOptions extends QuotaRuntimeOptions {
  readonly serviceName: string;
  readonly limits: readonly QuotaLimit[];
}

/**
 * What lives as long as the process: the counters' store (one Redis client
 * at most, opened on the first limit), the stats and the log throttles.
 * Enforcers for successive configs are built from it; a limit whose
 * definition did not change keeps its limiter, so its counters (in memory,
 * and in Redis under the same key) carry on across a reload.
 */
export interface QuotaRuntime {
  /**
   * An enforcer for `limits`. Limits defined exactly as in `previous` (same
   * service, name, metric, unit, value) reuse its limiters; only changed or
   * added limits get new ones. Throws on a limit that is not a whole number.
   * Its `close()` does nothing: the runtime owns the connection.
   */
  enforcerFor(serviceName: string, limits: readonly QuotaLimit[], previous?: QuotaEnforcer): QuotaEnforcer;
  /** Shared by every enforcer built here, across reloads. */
  readonly stats: Readonly<QuotaStats>;
  /** Where counters live, for logs: 'memory' or the Redis address without credentials. */
  readonly store: string;
  /** As QuotaEnforcer.ready; true at once while no limit has needed the store yet. */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Disconnects Redis; enforcers built here must not be used afterwards. */
  close(): Promise<void>;
}

/** One `quota.limits` entry with its limiter. */
interface Slot {
  readonly limit: QuotaLimit;
  readonly limiter: Limiter;
  readonly perKey: boolean;
  /** For `{user}` limits 'sub', for `{claim.NAME}` NAME: the claim that names the budget. */
  readonly perClaim: string | undefined;
  /** The 429 text up to the consumer project. */
  readonly messageHead: string;
}

/** One limiter call of one charge. */
interface Pending {
  readonly slot: Slot;
  readonly key: string;
  readonly points: number;
}

/** Outcome of one limiter call: admitted, failed (admitted, not refundable), or the refusal. */
type Outcome = typeof ADMITTED_CALL | typeof FAILED_CALL | RateLimiterRes;
const ADMITTED_CALL = 1;
const FAILED_CALL = 0;

/** The fast path's answer: one shared resolved promise, no allocation per call. */
const ADMIT: Promise<GatewayError | null> = Promise.resolve(null);
const admitOne = (): null => null;

/**
 * The budget of a per-person limit: the claim's value (a subject, a tenant
 * id). A call without a verified user, or whose claim is missing or not a
 * plain value, shares its project's budget, as a per-key limit does for a
 * call without a key: an anonymous caller is limited, never unlimited.
 */
function personKey(claim: string, who: QuotaConsumer): string {
  const v = who.claims?.[claim];
  if (typeof v === 'string' && v !== '') return `u:${claim}:${v}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `u:${claim}:${String(v)}`;
  return `p:${who.project}`;
}

/** At most one log line per kind in this interval. */
const LOG_INTERVAL_MS = 10_000;

/** A standalone enforcer with its own runtime; its close() disconnects that runtime's store. */
export function createQuotaEnforcer(opts: QuotaEnforcerOptions): QuotaEnforcer {
  const runtime = createQuotaRuntime(opts);
  const enforcer = runtime.enforcerFor(opts.serviceName, opts.limits);
  return { ...enforcer, close: () => runtime.close() };
}

/** Everything that makes a limit's counters: two limits with the same key share them. */
const definitionOf = (serviceName: string, l: QuotaLimit): string =>
  JSON.stringify([serviceName, l.name, l.metric, l.unit, l.limit, l.windowSeconds, l.per, l.claim]);

export function createQuotaRuntime(opts: QuotaRuntimeOptions = {}): QuotaRuntime {
  const log: QuotaLog = opts.log ?? (() => {});
  const stats: QuotaStats = { checks: 0, refusals: 0, fallbacks: 0, storeErrors: 0 };
  const prefix = opts.keyPrefix ?? 'egw:quota';
  const timeoutMs = opts.storeTimeoutMs ?? 50;
  if (!(timeoutMs > 0)) throw new Error('quota: storeTimeoutMs must be a positive number');

  const target = parseQuotaStore(opts.store);
  if ('error' in target) throw new Error(target.error);

  // Log throttles: a Redis outage must not produce a line per request.
  let lastFallbackLog = -Infinity;
  let fallbacksAtLastLog = 0;
  let lastErrorLog = -Infinity;
  let degraded = false;

  const openStore = (): LimiterStore =>
    target.kind === 'memory'
      ? memoryStore()
      : redisStore(target, timeoutMs, {
          onFallback() {
            stats.fallbacks++;
            degraded = true;
            const now = Date.now();
            if (now - lastFallbackLog >= LOG_INTERVAL_MS) {
              log('warn', 'quota store unavailable or slow: enforcing per-instance in-memory limits', {
                store: target.display,
                fallbacks: stats.fallbacks,
                fallbacksSinceLastLog: stats.fallbacks - fallbacksAtLastLog,
              });
              lastFallbackLog = now;
              fallbacksAtLastLog = stats.fallbacks;
            }
          },
          onError(err) {
            stats.storeErrors++;
            const now = Date.now();
            if (now - lastErrorLog >= LOG_INTERVAL_MS) {
              log('warn', 'quota store connection error', { store: target.display, error: err.message, storeErrors: stats.storeErrors });
              lastErrorLog = now;
            }
          },
          onReady() {
            log('info', degraded ? 'quota store reconnected: counters shared again' : 'quota store connected', {
              store: target.display,
              fallbacks: stats.fallbacks,
            });
            degraded = false;
            lastFallbackLog = -Infinity;
          },
        });
  // Opened on the first limit: a gateway whose spec has no quota opens no connection.
  let store: LimiterStore | undefined;
  let closed = false;
  const display = target.kind === 'memory' ? 'memory' : target.display;

  /** Each enforcer's slots by definition, for the next config's enforcer to reuse. */
  const slotsOf = new WeakMap<QuotaEnforcer, ReadonlyMap<string, Slot>>();

  const refusedOrFailed = (err: unknown): Outcome => {
    if (err instanceof RateLimiterRes) return err;
    stats.storeErrors++;
    const now = Date.now();
    if (now - lastErrorLog >= LOG_INTERVAL_MS) {
      log('warn', 'quota limiter error: call admitted', { store: display, error: err instanceof Error ? err.message : String(err) });
      lastErrorLog = now;
    }
    return FAILED_CALL;
  };

  function enforcerFor(serviceName: string, limits: readonly QuotaLimit[], previous?: QuotaEnforcer): QuotaEnforcer {
    if (closed) throw new Error('quota: the runtime is closed');
    const reusable = previous ? slotsOf.get(previous) : undefined;
    const slots = new Map<string, Slot>();
    const byMetric = new Map<string, Slot[]>();
    for (const limit of limits) {
      if (!Number.isInteger(limit.limit) || limit.limit < 0) throw new Error(`quota limit '${limit.name}': limit must be a non-negative integer`);
      if (!Number.isInteger(limit.windowSeconds) || limit.windowSeconds < 1) throw new Error(`quota limit '${limit.name}': windowSeconds must be a positive integer`);
      const def = definitionOf(serviceName, limit);
      // A limit listed twice keeps two limiters, as before; only a previous config's are reused.
      const kept = slots.has(def) ? undefined : reusable?.get(def);
      const slot: Slot = kept ?? {
        limit,
        limiter: (store ??= openStore()).limiter({ keyPrefix: `${prefix}:${serviceName}:${limit.name}`, points: limit.limit, duration: limit.windowSeconds }),
        perKey: limit.per === 'key',
        perClaim: limit.per === 'user' ? 'sub' : limit.per === 'claim' ? limit.claim : undefined,
        messageHead: `RESOURCE_EXHAUSTED: Quota exceeded for quota metric '${limit.metric}' and limit '${limit.name}' of service '${serviceName}' for consumer 'project_number:`,
      };
      if (!slots.has(def)) slots.set(def, slot);
      const list = byMetric.get(limit.metric);
      if (list) list.push(slot);
      else byMetric.set(limit.metric, [slot]);
    }
    const enforcer = chargingOver(byMetric);
    slotsOf.set(enforcer, slots);
    return enforcer;
  }

  function chargingOver(byMetric: ReadonlyMap<string, readonly Slot[]>): QuotaEnforcer {
    const admitted = (): Outcome => ADMITTED_CALL;

    const consume = (p: Pending): Promise<Outcome> => p.slot.limiter.consume(p.key, p.points).then(admitted, refusedOrFailed);

    /** Gives back what a refused call took, so it consumes nothing. */
    const refund = (p: Pending, outcome: Outcome): Promise<unknown> | undefined => {
      // A refusal whose counter was already at or over the limit before this
      // call lost no usable capacity; only partial room (costs > 1) is returned.
      const worth = outcome === ADMITTED_CALL || (outcome instanceof RateLimiterRes && outcome.consumedPoints - p.points < p.slot.limit.limit);
      return worth ? p.slot.limiter.reward(p.key, p.points).catch(refusedOrFailed) : undefined;
    };

    const refusal = (first: Pending, retryMs: number, project: string): GatewayError => {
      stats.refusals++;
      const seconds = Math.max(1, Math.ceil(retryMs / 1000));
      return new GatewayError(429, `${first.slot.messageHead}${project}'.`, 'quota_exceeded', { 'Retry-After': String(seconds) });
    };

    // The one-limit case runs per request: one .then on the limiter's promise, no async frame.
    const settleOne = (p: Pending, project: string): Promise<GatewayError | null> =>
      p.slot.limiter.consume(p.key, p.points).then(admitOne, (err: unknown) => {
        const outcome = refusedOrFailed(err);
        if (!(outcome instanceof RateLimiterRes)) return null;
        const refunding = refund(p, outcome);
        return refunding === undefined ? refusal(p, outcome.msBeforeNext, project) : refunding.then(() => refusal(p, outcome.msBeforeNext, project));
      });

    const settleAll = async (pending: Pending[], project: string): Promise<GatewayError | null> => {
      const outcomes = await Promise.all(pending.map(consume));
      let first = -1;
      let retryMs = 0;
      for (let i = 0; i < outcomes.length; i++) {
        const o = outcomes[i];
        if (o instanceof RateLimiterRes) {
          if (first < 0) first = i;
          if (o.msBeforeNext > retryMs) retryMs = o.msBeforeNext;
        }
      }
      if (first < 0) return null;
      const refunds: Promise<unknown>[] = [];
      for (let i = 0; i < outcomes.length; i++) {
        const r = refund(pending[i]!, outcomes[i]!);
        if (r) refunds.push(r);
      }
      await Promise.all(refunds);
      // The 429 names the first refusing limit; Retry-After waits for all of them.
      return refusal(pending[first]!, retryMs, project);
    };

    return {
      stats,
      store: display,
      charge(costs, who) {
        if (costs.length === 0 || byMetric.size === 0) return ADMIT;
        let pending: Pending[] | undefined;
        for (let i = 0; i < costs.length; i++) {
          const c = costs[i]!;
          if (!(c.cost > 0)) continue;
          const slots = byMetric.get(c.metric);
          if (slots === undefined) continue;
          const points = Math.ceil(c.cost);
          for (let j = 0; j < slots.length; j++) {
            const slot = slots[j]!;
            // Limiter keys carry the project or the key's hash, never the key.
            // A per-key limit on a call without a key falls back to the project.
            const key = slot.perClaim !== undefined ? personKey(slot.perClaim, who) : slot.perKey && who.keyHash !== undefined ? `k:${who.keyHash}` : `p:${who.project}`;
            (pending ??= []).push({ slot, key, points });
          }
        }
        if (pending === undefined) return ADMIT;
        stats.checks++;
        return pending.length === 1 ? settleOne(pending[0]!, who.project) : settleAll(pending, who.project);
      },
      ready: (wait = 2000) => ready(wait),
      close: () => Promise.resolve(),
    };
  }

  const ready = (wait = 2000): Promise<boolean> => (store ? store.ready(wait) : Promise.resolve(true));

  return {
    enforcerFor,
    stats,
    store: display,
    ready,
    async close() {
      closed = true;
      await store?.close();
    },
  };
}
