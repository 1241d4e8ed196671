/**
 * Upstream calls of a gateway with workers, made once for all of them: API
 * Keys lookups, backend ID tokens and JWKS fetches go from each worker to the
 * primary, which single-flights them and keeps each answer as long as one
 * process would (the key refresh interval or negative TTL, the ID token until
 * it is due for refresh, the key set for the JWKS cache time). So the API Keys
 * service, the metadata server and the issuers see the calls of one gateway,
 * not N times them.
 *
 * Workers keep their own caches: a warm request sends nothing over the
 * channel; only what would have been an upstream call in the worker does.
 * With one worker none of this is loaded.
 *
 * The API Keys service needs the key itself (lookupKey), so a worker sends it
 * to the primary over the local IPC channel; it is cached there by its hash,
 * and never logged or put in an error message.
 */
import type { Worker } from 'node:cluster';
import { LRUCache } from 'lru-cache';
import type { GoogleKeyLookup, KeyAnswer } from '../auth/apikeys/google-store.ts';
import { hashKey } from '../auth/apikeys/key-record.ts';
import { KeyServiceError, NOT_PERMITTED } from '../auth/apikeys/store.ts';
import type { SharedIdTokenSource } from '../backend/id-tokens.ts';
import type { Logger } from '../observability/logger.ts';

/** What the worker's key verifier would use in its own process (the same flags in every worker). */
export interface KeyLookupParams {
  /** --apikeys-endpoint; '' for Google's. */
  readonly endpoint: string;
  readonly timeoutMs: number;
  /** How long a valid key's answer is reused (--key-refresh). */
  readonly refreshMs: number;
  /** How long an invalid key's answer is reused. */
  readonly negativeTtlMs: number;
  /** Entries kept (--key-cache-size). */
  readonly max: number;
}

/** A JWKS answer as it crosses the channel. */
interface KeySetAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** Which of the primary's fetches this is (1, 2, …), so a worker can say which copy it holds. */
  readonly version: number;
  /** The primary's clock. */
  readonly fetchedAt: number;
}

type Call =
  | { readonly egw: 'upstream'; readonly id: number; readonly kind: 'api-key'; readonly key: string; readonly params: KeyLookupParams }
  | { readonly egw: 'upstream'; readonly id: number; readonly kind: 'id-token'; readonly audience: string }
  /** `have`: version of the copy the worker holds (0: none); an answer is never that copy again. */
  | { readonly egw: 'upstream'; readonly id: number; readonly kind: 'jwks'; readonly url: string; readonly have: number; readonly cacheMs: number; readonly timeoutMs: number; readonly headers: Record<string, string> };
type Answer =
  | { readonly egw: 'upstream-answer'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly egw: 'upstream-answer'; readonly id: number; readonly ok: false; readonly message: string; readonly code?: number | undefined };

/** What a worker's parts use instead of calling upstream themselves. */
export interface UpstreamViaPrimary {
  keyLookup(params: KeyLookupParams): GoogleKeyLookup;
  idToken(audience: string): Promise<string>;
  /** jose's fetch for a remote key set (JwksOptions.fetchKeys). */
  jwks(url: string, options: RequestInit, cacheMs: number, timeoutMs: number): Promise<Response>;
}

/** Beyond the call's own deadline, how long the primary may take before the worker gives up on it. */
const CHANNEL_SLACK_MS = 5_000;
/** google-auth-library retries a failing metadata server: a token request may take this long. */
const ID_TOKEN_TIMEOUT_MS = 60_000;

/** A worker's side: one per process. */
export function workerUpstreamCalls(): UpstreamViaPrimary {
  let nextId = 0;
  const waiting = new Map<number, (a: Answer) => void>();
  process.on('message', (m: unknown) => {
    const a = m as Answer;
    if (a?.egw === 'upstream-answer') waiting.get(a.id)?.(a);
  });
  type Body<C> = C extends unknown ? Omit<C, 'egw' | 'id'> : never;
  const ask = (call: Body<Call>, timeoutMs: number, signal?: AbortSignal | null): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (!process.connected) return reject(new Error('the primary process is gone'));
      const id = nextId++;
      const done = () => {
        clearTimeout(timer);
        waiting.delete(id);
        signal?.removeEventListener('abort', abort);
      };
      const abort = () => {
        done();
        reject(signal!.reason as Error);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error('the primary did not answer in time'));
      }, timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', abort, { once: true });
      waiting.set(id, (a) => {
        done();
        if (a.ok) resolve(a.value);
        else reject(Object.assign(new Error(a.message), { code: a.code }));
      });
      process.send!({ egw: 'upstream', id, ...call } as Call);
    });

  // Version of the copy of each key set this worker holds.
  const heldKeySets = new Map<string, number>();
  return {
    keyLookup: (params) => ({
      lookup: (key) =>
        // Two calls (lookupKey, getKey), each with its deadline, its backstop and one retry on a reset.
        ask({ kind: 'api-key', key, params }, 4 * (params.timeoutMs + 1000) + CHANNEL_SLACK_MS).then(
          (v) => v as KeyAnswer,
          (e: Error & { code?: number }) => {
            throw new KeyServiceError(e.message, e.code);
          },
        ),
      close() {},
    }),
    idToken: (audience) => ask({ kind: 'id-token', audience }, ID_TOKEN_TIMEOUT_MS).then((v) => v as string),
    async jwks(url, options, cacheMs, timeoutMs) {
      const headers = Object.fromEntries(new Headers(options.headers).entries());
      const call = { kind: 'jwks' as const, url, have: heldKeySets.get(url) ?? 0, cacheMs, timeoutMs, headers };
      const a = (await ask(call, timeoutMs + CHANNEL_SLACK_MS, options.signal)) as KeySetAnswer;
      if (a.status === 200) heldKeySets.set(url, a.version);
      return new Response(a.body, { status: a.status, headers: a.contentType ? { 'content-type': a.contentType } : {} });
    },
  };
}

/** The primary's side. */
export function upstreamCallsHost(log: Logger): { onMessage(w: Worker, m: unknown): boolean } {
  const keys = keyAnswers(log);
  const tokens = idTokens();
  const keySets = jwksFetches();
  const answer = (w: Worker, a: Answer) => {
    if (w.isConnected()) w.send(a);
  };
  return {
    onMessage(w, m) {
      const c = m as Call;
      if (c?.egw !== 'upstream') return false;
      const p: Promise<unknown> =
        c.kind === 'api-key' ? keys(c.key, c.params) : c.kind === 'id-token' ? tokens(c.audience) : keySets(c.url, c.have, c.cacheMs, c.timeoutMs, c.headers);
      p.then(
        (value) => answer(w, { egw: 'upstream-answer', id: c.id, ok: true, value }),
        (e: unknown) => {
          const err = e instanceof Error ? e : new Error(String(e));
          const code = (err as { code?: unknown }).code;
          answer(w, { egw: 'upstream-answer', id: c.id, ok: false, message: err.message, code: typeof code === 'number' ? code : undefined });
        },
      );
      return true;
    },
  };
}

/** API Keys answers by key hash: one call per key at a time, reused for the refresh interval (negative TTL when invalid). */
function keyAnswers(log: Logger): (key: string, p: KeyLookupParams) => Promise<KeyAnswer> {
  const lookups = new Map<string, Promise<GoogleKeyLookup>>();
  const lookupFor = (p: KeyLookupParams): Promise<GoogleKeyLookup> => {
    const id = `${p.endpoint}\u0000${p.timeoutMs}`;
    let l = lookups.get(id);
    if (!l) {
      // Loaded on first use, as in a worker: the Google client library costs start-up time.
      l = import('../auth/apikeys/google-store.ts').then((g) => g.createGoogleKeyLookup({ ...(p.endpoint ? { endpoint: p.endpoint } : {}), timeoutMs: p.timeoutMs, log }));
      lookups.set(id, l);
    }
    return l;
  };
  // Plain data only: the library's message objects do not survive the channel as they are.
  type Box = { readonly answer: KeyAnswer };
  let cache: LRUCache<string, Box, { key: string; p: KeyLookupParams }> | undefined;
  return async (key, p) => {
    cache ??= new LRUCache<string, Box, { key: string; p: KeyLookupParams }>({
      max: p.max,
      ttl: p.refreshMs,
      fetchMethod: async (_id, _stale, { options, context }) => {
        const a = await (await lookupFor(context.p)).lookup(context.key);
        if (a === null || a === NOT_PERMITTED) {
          options.ttl = context.p.negativeTtlMs;
          return { answer: a };
        }
        options.ttl = context.p.refreshMs;
        const restrictions = a.restrictions ? (JSON.parse(JSON.stringify(a.restrictions)) as typeof a.restrictions) : null;
        // The worker's verdict is fresh for what is left of the interval, not a whole one from when it gets it.
        return { answer: { ...a, restrictions, verifiedAt: Date.now() } };
      },
    });
    const box = await cache.fetch(`${p.endpoint}\u0000${hashKey(key)}`, { context: { key, p } });
    return box!.answer;
  };
}

/** One ID-token source for all workers: a worker that asks gets a token not yet due for refresh. */
function idTokens(): (audience: string) => Promise<string> {
  let source: Promise<SharedIdTokenSource> | undefined;
  return async (audience) => {
    source ??= import('../backend/id-tokens.ts').then((m) => m.createGoogleIdTokenSource());
    // The asking worker's source says which audience failed: hand it the cause alone.
    return (await source).fresh(audience).catch((e: Error) => {
      throw e.cause instanceof Error ? e.cause : e;
    });
  };
}

/**
 * Key sets by URL. A worker is handed the newest copy unless it already holds
 * it (then it wants a new one: its copy is due for refresh, or a token names
 * an unknown kid) or the copy is older than the JWKS cache time.
 */
function jwksFetches(): (url: string, have: number, cacheMs: number, timeoutMs: number, headers: Record<string, string>) => Promise<KeySetAnswer> {
  interface Entry {
    latest: KeySetAnswer | undefined;
    inflight: Promise<KeySetAnswer> | undefined;
  }
  const entries = new Map<string, Entry>();
  let versions = 0;
  let fetchKeys: Promise<typeof import('../auth/jwt/x509-jwks.ts').x509AwareFetch> | undefined;
  return async (url, have, cacheMs, timeoutMs, headers) => {
    let e = entries.get(url);
    if (!e) entries.set(url, (e = { latest: undefined, inflight: undefined }));
    const l = e.latest;
    if (l && l.version > have && Date.now() - l.fetchedAt < cacheMs) return l;
    if (e.inflight) return e.inflight;
    const entry = e;
    fetchKeys ??= import('../auth/jwt/x509-jwks.ts').then((m) => m.x509AwareFetch);
    entry.inflight = (async () => {
      try {
        const res = await (await fetchKeys)(url, { method: 'GET', redirect: 'manual', headers, signal: AbortSignal.timeout(timeoutMs) });
        const a: KeySetAnswer = { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text(), version: ++versions, fetchedAt: Date.now() };
        // Only a usable key set is handed to other workers; a failure is each asker's own.
        if (a.status === 200) entry.latest = a;
        return a;
      } finally {
        entry.inflight = undefined;
      }
    })();
    return entry.inflight;
  };
}
