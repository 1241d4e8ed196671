/**
 * The server-side session store (`--session-store redis://…`): the cookie
 * then carries only an opaque id, and the session lives in Redis under a
 * hash of that id, with its absolute expiry as the key's expiry. Deleting
 * the key ends the session on every instance at once (sign-out, `sessions
 * revoke`). The session itself (refresh token included) is stored sealed
 * with the session secret; beside it, plain fields an operator needs to find
 * sessions (subject, email, times) without the secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';
import { parseQuotaStore } from '../quota/store.ts';

export const KEY_PREFIX = 'endpoints-gateway:session:';

/** What an operator sees of a stored session. */
export interface StoredSessionInfo {
  /** The store's id for it (a hash of the cookie's id: knowing it lets nobody in). */
  readonly id: string;
  readonly sub: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
  readonly issuer: string;
  readonly clientId: string;
  readonly origin: string;
  /** Seconds since the epoch. */
  readonly signedInAt: number;
  readonly expiresAt: number;
  readonly lastSeenAt: number;
}

export interface StoredRecord {
  /** The sealed session. */
  readonly data: string;
  readonly lastSeenAt: number;
}

export interface NewRecord {
  readonly data: string;
  readonly sub: string;
  readonly email?: string | undefined;
  readonly name?: string | undefined;
  readonly issuer: string;
  readonly clientId: string;
  readonly origin: string;
  readonly signedInAt: number;
  readonly expiresAt: number;
}

export interface SessionStore {
  /** For logs: scheme, host and port, never credentials. */
  readonly display: string;
  /** Stores a new session; returns the cookie's opaque id. */
  create(record: NewRecord): Promise<string>;
  get(cookieId: string): Promise<StoredRecord | undefined>;
  /** Replaces the sealed session, if it still exists (never revives a deleted one). */
  update(cookieId: string, data: string): Promise<boolean>;
  touch(cookieId: string, now: number): Promise<void>;
  delete(cookieId: string): Promise<void>;
  list(filter?: { sub?: string | undefined; email?: string | undefined }): Promise<StoredSessionInfo[]>;
  /** Deletes by the store's id (what `list` shows); true when it existed. */
  revoke(id: string): Promise<boolean>;
  close(): Promise<void>;
}

const STORE_ID_LENGTH = 32;
const STORE_ID = new RegExp(`^[A-Za-z0-9_-]{${STORE_ID_LENGTH}}$`);

/** The store's id of a cookie id: a hash, so what Redis holds cannot be replayed as a cookie. */
export function storeId(cookieId: string): string {
  return createHash('sha256').update(cookieId).digest('base64url').slice(0, STORE_ID_LENGTH);
}

/** Whether a word has the shape of a store id (what `sessions list` shows and `sessions revoke` takes). */
export function isStoreId(word: string): boolean {
  return STORE_ID.test(word);
}

// Writes only to a key that still exists: a session deleted meanwhile stays deleted
// (a plain HSET would recreate it, without its expiry).
const SET_IF_PRESENT = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end return 0";

/** Parses a --session-store / --store value; throws with what is expected. */
export function parseSessionStore(value: string, flag = '--session-store'): { connect: string; display: string } {
  const t = parseQuotaStore(value);
  if ('error' in t) throw new Error(`${flag} ${value}: ${t.error.replace(/^quota store:? ?/, '')}`);
  if (t.kind !== 'redis') throw new Error(`${flag} ${value}: expected redis://HOST:PORT, rediss://HOST:PORT or a unix socket path`);
  return { connect: t.connect, display: t.display };
}

export function openSessionStore(value: string, onError: (err: Error) => void, flag = '--session-store'): SessionStore {
  const target = parseSessionStore(value, flag);
  // ioredis is loaded only when a store is configured.
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const client: RedisClient = new Redis(target.connect, {
    // A request waits at most this for Redis, then gets a clear 503 rather than hanging.
    commandTimeout: 3000,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    lazyConnect: false,
  });
  client.on('error', onError);
  const key = (cookieId: string) => KEY_PREFIX + storeId(cookieId);
  const info = (id: string, h: Record<string, string>): StoredSessionInfo => ({
    id,
    sub: h.sub ?? '',
    email: h.email || undefined,
    name: h.name || undefined,
    issuer: h.iss ?? '',
    clientId: h.aud ?? '',
    origin: h.or ?? '',
    signedInAt: Number(h.iat ?? 0),
    expiresAt: Number(h.exp ?? 0),
    lastSeenAt: Number(h.last ?? 0),
  });
  return {
    display: target.display,
    async create(r) {
      const cookieId = randomBytes(32).toString('base64url');
      const k = key(cookieId);
      await client
        .multi()
        .hset(k, { data: r.data, sub: r.sub, email: r.email ?? '', name: r.name ?? '', iss: r.issuer, aud: r.clientId, or: r.origin, iat: r.signedInAt, exp: r.expiresAt, last: r.signedInAt })
        .expireat(k, r.expiresAt)
        .exec()
        .then((res) => {
          const failed = res?.find(([err]) => err);
          if (!res || failed) throw failed?.[0] ?? new Error('the session store refused the session');
        });
      return cookieId;
    },
    async get(cookieId) {
      const [data, last] = await client.hmget(key(cookieId), 'data', 'last');
      return data ? { data, lastSeenAt: Number(last ?? 0) } : undefined;
    },
    async update(cookieId, data) {
      return (await client.eval(SET_IF_PRESENT, 1, key(cookieId), 'data', data)) === 1;
    },
    async touch(cookieId, now) {
      await client.eval(SET_IF_PRESENT, 1, key(cookieId), 'last', String(now));
    },
    async delete(cookieId) {
      await client.del(key(cookieId));
    },
    async list(filter = {}) {
      const out: StoredSessionInfo[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const h = await client.hgetall(k);
          if (!h.sub) continue; // expired between SCAN and HGETALL
          const i = info(k.slice(KEY_PREFIX.length), h);
          if (filter.sub !== undefined && i.sub !== filter.sub) continue;
          if (filter.email !== undefined && i.email?.toLowerCase() !== filter.email.toLowerCase()) continue;
          out.push(i);
        }
      } while (cursor !== '0');
      return out.sort((a, b) => a.signedInAt - b.signedInAt);
    },
    async revoke(id) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return false;
      return (await client.del(KEY_PREFIX + id)) === 1;
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
