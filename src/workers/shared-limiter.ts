/**
 * In-memory quota counters shared by the workers: the primary holds one
 * rate-limiter-flexible RateLimiterMemory per limit and answers every charge,
 * so the workers together admit exactly the limit.
 *
 * rate-limiter-flexible's own cluster limiter sends one IPC message each way
 * per call; measured with the bench's workers case, that cost the 2-worker
 * gateway about 0.4× of the 1-worker CPU per request. Here the calls a worker
 * makes in one turn of its event loop travel in one message, answered in
 * one: under load that is many calls per message. The counting is still the
 * library's, in call order.
 */
import type { Worker } from 'node:cluster';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** One limiter call: prefix, 'c' consume or 'r' reward, key, points, and the limit's shape (points, seconds). */
type Op = readonly [prefix: string, kind: 'c' | 'r', key: string, points: number, limit: number, seconds: number];
/** Admitted?, then the RateLimiterRes fields. */
type Res = readonly [ok: boolean, remaining: number, msBeforeNext: number, consumed: number, first: boolean];
type Batch = { readonly egw: 'quota'; readonly id: number; readonly ops: readonly Op[] };
type Answer = { readonly egw: 'quota'; readonly id: number; readonly res: readonly Res[] };

/** What the quota enforcer calls (src/quota/enforcer.ts): rate-limiter-flexible's consume and reward. */
export interface SharedLimiter {
  consume(key: string | number, points?: number): Promise<RateLimiterRes>;
  reward(key: string | number, points?: number): Promise<RateLimiterRes>;
}

interface Pending {
  readonly resolve: (r: RateLimiterRes) => void;
  readonly reject: (e: unknown) => void;
}

/** A worker's side: one client per process; limiters made from it batch their calls. */
export function sharedLimiterClient(timeoutMs: number): (shape: { readonly keyPrefix: string; readonly points: number; readonly duration: number }) => SharedLimiter {
  let nextId = 0;
  let ops: Op[] = [];
  let waiters: Pending[] = [];
  const inFlight = new Map<number, { readonly waiters: Pending[]; readonly timer: NodeJS.Timeout }>();
  process.on('message', (m: unknown) => {
    const a = m as Answer;
    if (a?.egw !== 'quota') return;
    const batch = inFlight.get(a.id);
    if (!batch) return;
    inFlight.delete(a.id);
    clearTimeout(batch.timer);
    a.res.forEach(([ok, remaining, ms, consumed, first], i) => {
      const r = new RateLimiterRes(remaining, ms, consumed, first);
      if (ok) batch.waiters[i]!.resolve(r);
      else batch.waiters[i]!.reject(r);
    });
  });
  const flush = () => {
    const id = nextId++;
    const sent = { ops, waiters };
    ops = [];
    waiters = [];
    // No answer in time (the primary is gone or stuck): the enforcer admits the calls and counts store errors.
    const timer = setTimeout(() => {
      inFlight.delete(id);
      for (const w of sent.waiters) w.reject(new Error('the primary did not answer the quota call in time'));
    }, timeoutMs);
    timer.unref();
    inFlight.set(id, { waiters: sent.waiters, timer });
    if (process.connected) process.send!({ egw: 'quota', id, ops: sent.ops } satisfies Batch);
  };
  const call = (op: Op): Promise<RateLimiterRes> =>
    new Promise((resolve, reject) => {
      if (ops.length === 0) setImmediate(flush);
      ops.push(op);
      waiters.push({ resolve, reject });
    });
  return (shape) => ({
    consume: (key, points = 1) => call([shape.keyPrefix, 'c', String(key), points, shape.points, shape.duration]),
    reward: (key, points = 1) => call([shape.keyPrefix, 'r', String(key), points, shape.points, shape.duration]),
  });
}

/** The primary's side: the counters, one RateLimiterMemory per limit (prefix and shape). */
export function sharedLimiterHost(): { onMessage(w: Worker, m: unknown): boolean } {
  const limiters = new Map<string, RateLimiterMemory>();
  const limiterOf = (prefix: string, points: number, seconds: number): RateLimiterMemory => {
    // A limit whose value or window changed on reload counts afresh, as a new limiter does in one process.
    const id = `${prefix}\u0000${points}\u0000${seconds}`;
    let l = limiters.get(id);
    if (!l) limiters.set(id, (l = new RateLimiterMemory({ keyPrefix: id, points, duration: seconds })));
    return l;
  };
  const res = (ok: boolean, r: RateLimiterRes): Res => [ok, r.remainingPoints, r.msBeforeNext, r.consumedPoints, r.isFirstInDuration];
  return {
    onMessage(w, m) {
      const b = m as Batch;
      if (b?.egw !== 'quota') return false;
      void Promise.all(
        b.ops.map(([prefix, kind, key, points, limit, seconds]) => {
          const l = limiterOf(prefix, limit, seconds);
          const p = kind === 'c' ? l.consume(key, points) : l.reward(key, points);
          return p.then(
            (r) => res(true, r),
            (r: unknown) => (r instanceof RateLimiterRes ? res(false, r) : res(true, new RateLimiterRes(0, 0, 0, false))),
          );
        }),
      ).then((all) => {
        if (w.isConnected()) w.send({ egw: 'quota', id: b.id, res: all } satisfies Answer);
      });
      return true;
    },
  };
}
