/**
 * Where quota counters live: this process's memory (the default, exact for
 * one instance), or Redis (`--quota-store`), shared by every instance.
 *
 * With Redis each limiter is a rate-limiter-flexible `RateLimiterRedis`
 * whose `insuranceLimiter` is a `RateLimiterMemory` of the same shape: when
 * Redis is down (client not ready) or slow (command timeout), the call is
 * answered by this instance's memory counters instead of failing or waiting.
 */
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import { workerRole } from '../workers/role.ts';
import { sharedLimiterClient } from '../workers/shared-limiter.ts';

export type StoreTarget =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis';
      /** What ioredis is given: a `redis(s)://` URL or a unix socket path. */
      readonly connect: string;
      /** For logs: scheme, host and port or socket path, never credentials. */
      readonly display: string;
    };

/** Validates a `--quota-store` value (undefined or '' means memory). */
export function parseQuotaStore(store: string | undefined): StoreTarget | { error: string } {
  if (store === undefined || store === '' || store === 'memory') return { kind: 'memory' };
  if (store.startsWith('unix://')) {
    const path = store.slice('unix://'.length);
    if (!path.startsWith('/')) return { error: `quota store '${store}': a unix socket path must be absolute` };
    return { kind: 'redis', connect: path, display: `unix://${path}` };
  }
  if (store.startsWith('/')) return { kind: 'redis', connect: store, display: `unix://${store}` };
  if (store.startsWith('redis://') || store.startsWith('rediss://')) {
    let url: URL;
    try {
      url = new URL(store);
    } catch {
      return { error: 'quota store: not a valid redis:// or rediss:// URL' };
    }
    if (!url.hostname) return { error: 'quota store: the Redis URL has no host' };
    return { kind: 'redis', connect: store, display: `${url.protocol}//${url.host}` };
  }
  return { error: "quota store: expected redis://HOST:PORT, rediss://HOST:PORT, unix:///path.sock or /path.sock" };
}

/** What the enforcer calls: rate-limiter-flexible's consume and reward (a refusal rejects with RateLimiterRes). */
export interface Limiter {
  consume(key: string | number, points?: number): Promise<RateLimiterRes>;
  reward(key: string | number, points?: number): Promise<RateLimiterRes>;
}

export interface LimiterShape {
  readonly keyPrefix: string;
  readonly points: number;
  readonly duration: number;
}

export interface LimiterStore {
  readonly display: string;
  limiter(shape: LimiterShape): Limiter;
  /** Resolves true once counters are shared (always true for memory), false after timeoutMs. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How long a worker waits for the primary's count before admitting the call (counted as a store error). */
const SHARED_TIMEOUT_MS = 1_000;
let shared: ReturnType<typeof sharedLimiterClient> | undefined;

export function memoryStore(): LimiterStore {
  // With --workers the primary keeps the counters (src/workers/shared-limiter.ts), so the workers
  // together admit exactly the limit.
  const inWorker = workerRole() !== undefined;
  return {
    display: 'memory',
    limiter: (shape) =>
      inWorker
        ? (shared ??= sharedLimiterClient(SHARED_TIMEOUT_MS))(shape)
        : new RateLimiterMemory({ ...shape }),
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}

/**
 * The insurance limiter: rate-limiter-flexible calls its `consume` only when
 * the Redis call failed, so counting calls here counts fallbacks exactly.
 */
class FallbackLimiter extends RateLimiterMemory {
  readonly #onFallback: () => void;

  constructor(shape: LimiterShape, onFallback: () => void) {
    super({ ...shape });
    this.#onFallback = onFallback;
  }

  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }) {
    this.#onFallback();
    return super.consume(key, points, options);
  }
}

export interface RedisStoreEvents {
  /** A limiter call was answered by the in-memory insurance limiter. */
  onFallback(): void;
  /** The Redis connection reported an error (it keeps reconnecting). */
  onError(err: Error): void;
  /** The connection became ready (first time or after an outage). */
  onReady(): void;
}

export function redisStore(
  target: Extract<StoreTarget, { kind: 'redis' }>,
  timeoutMs: number,
  events: RedisStoreEvents,
): LimiterStore {
  // ioredis is loaded only when a Redis store is configured (start-up time).
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const client: RedisClient = new Redis(target.connect, {
    // Never queue commands while disconnected: fail at once and fall back.
    enableOfflineQueue: false,
    // A slow Redis costs at most this per command before falling back.
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(1000, timeoutMs * 20),
    // Keep trying forever, at most one attempt per second, so the shared
    // counters come back soon after Redis does.
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
  });
  client.on('error', (err: Error) => events.onError(err));
  client.on('ready', () => events.onReady());

  return {
    display: target.display,
    limiter: (shape) =>
      new RateLimiterRedis({
        ...shape,
        storeClient: client,
        // Skip the round trip entirely while the connection is down.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new FallbackLimiter(shape, events.onFallback),
      }),
    ready(wait) {
      if (client.status === 'ready') return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(done, wait, false);
        client.on('ready', onReady);
      });
    },
    async close() {
      if (client.status === 'end') return;
      // While waiting to reconnect there is no socket to close and ioredis
      // emits no 'end': bound the wait instead of hanging shutdown.
      const ended = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 500);
        client.once('end', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      client.disconnect(false);
      await ended;
    },
  };
}
