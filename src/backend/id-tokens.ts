// Google-signed ID tokens for backend authentication (ESPv2 backend_auth): one token per audience, fetched through
// google-auth-library's Application Default Credentials (metadata server on Cloud Run / GCE, or a service-account
// key), cached by us until `exp`, single-flight per audience, refreshed ahead of expiry in the background.
// We keep our own cache because IdTokenClient has no single-flight (N cold callers => N fetches).
import { GoogleAuth, type IdTokenClient } from 'google-auth-library';
import { decodeJwt } from 'jose';

export interface IdTokenSource {
  /** Hot path: a valid cached token for the audience, or undefined. Never does I/O; may start a background refresh. */
  peek(audience: string): string | undefined;
  /** A valid token, fetching it when none is cached. Rejects (Error) when it cannot be had. */
  get(audience: string): Promise<string>;
  /** Fetch tokens for these audiences now (startup / readiness). Resolves true when all succeeded. */
  prefetch(audiences: readonly string[]): Promise<boolean>;
  /** fetches: attempts started (successful or not); failures: attempts that failed. */
  readonly stats: { fetches: number; failures: number };
  close(): void;
}

export interface IdTokenSourceOptions {
  auth?: GoogleAuth;
  /** Start a background refresh when a token is this close to `exp`. Default 5 min. */
  refreshAheadMs?: number;
  /** Called after every fetch attempt; `error` is set when ok is false. Must not throw (exceptions are ignored). */
  onFetch?: (audience: string, ok: boolean, ms: number, error?: Error) => void;
  /** Where a token comes from instead of `auth` (a cluster worker asks its primary: src/workers/upstream-calls.ts). */
  fetchIdToken?: (audience: string) => Promise<string>;
}

/** The source a cluster's primary keeps for its workers. */
export interface SharedIdTokenSource extends IdTokenSource {
  /** A token not yet due for refresh; when the cached one is due (or missing), waits for one fetch (single-flight). */
  fresh(audience: string): Promise<string>;
}

/** A token is no longer handed out this close to its `exp`: it must still be valid when the backend checks it. */
const EXPIRY_MARGIN_MS = 1_000;
/** After a failed background refresh, peek() waits this long before trying again (ESPv2 retries after 2 s). */
const BACKGROUND_RETRY_MS = 2_000;
/** Characters allowed in a JWT (base64url segments and dots): anything else must not reach a header. */
const JWT_CHARS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface Entry {
  token: string | undefined;
  /** Last instant (epoch ms) the token is handed out. */
  validUntil: number;
  /** From this instant (epoch ms) a read starts one background refresh. */
  refreshAt: number;
  inflight: Promise<string> | undefined;
  client: Promise<IdTokenClient> | undefined;
  /** peek() starts no background fetch before this instant (after a failure). */
  backgroundNotBefore: number;
}

const noop = () => {};

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function createGoogleIdTokenSource(opts: IdTokenSourceOptions = {}): SharedIdTokenSource {
  const fetchVia = opts.fetchIdToken;
  const auth = fetchVia ? undefined : (opts.auth ?? new GoogleAuth());
  const refreshAheadMs = opts.refreshAheadMs ?? 5 * 60_000;
  const onFetch = opts.onFetch;
  const entries = new Map<string, Entry>();
  const stats = { fetches: 0, failures: 0 };
  let closed = false;

  function entryFor(audience: string): Entry {
    let e = entries.get(audience);
    if (e === undefined) {
      e = { token: undefined, validUntil: 0, refreshAt: 0, inflight: undefined, client: undefined, backgroundNotBefore: 0 };
      entries.set(audience, e);
    }
    return e;
  }

  async function fetchFromAuth(audience: string, e: Entry): Promise<string> {
    // One IdTokenClient per audience; a failed creation (no credentials yet) is not kept.
    e.client ??= auth!.getIdTokenClient(audience);
    let client: IdTokenClient;
    try {
      client = await e.client;
    } catch (err) {
      e.client = undefined;
      throw err;
    }
    // fetchIdToken is uncached; getRequestHeaders() would add the client's own cache on top of ours.
    return client.idTokenProvider.fetchIdToken(audience);
  }

  async function fetchToken(audience: string, e: Entry): Promise<string> {
    const token = fetchVia ? await fetchVia(audience) : await fetchFromAuth(audience, e);
    if (typeof token !== 'string' || !JWT_CHARS.test(token)) throw new Error('not a JWT');
    const exp = decodeJwt(token).exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new Error('ID token has no exp claim');
    const now = Date.now();
    const validUntil = exp * 1000 - EXPIRY_MARGIN_MS;
    if (validUntil <= now) throw new Error('ID token is already expired');
    e.token = token;
    e.validUntil = validUntil;
    // Refresh ahead, but never before half the remaining life: a refreshAheadMs longer than the token's
    // lifetime must not turn every read into a fetch.
    e.refreshAt = Math.max(validUntil - refreshAheadMs, now + (validUntil - now) / 2);
    return token;
  }

  /** Starts a fetch unless one is in flight (single-flight). The returned promise may reject; it is never unhandled. */
  function startFetch(audience: string, e: Entry): Promise<string> {
    if (e.inflight !== undefined) return e.inflight;
    stats.fetches++;
    const started = performance.now();
    const p = fetchToken(audience, e).then(
      (token) => {
        e.inflight = undefined;
        e.backgroundNotBefore = 0;
        report(audience, true, performance.now() - started);
        return token;
      },
      (err: unknown) => {
        e.inflight = undefined;
        e.backgroundNotBefore = Date.now() + BACKGROUND_RETRY_MS;
        stats.failures++;
        const cause = toError(err);
        const error = new Error(`ID token fetch for audience ${audience} failed: ${cause.message}`, { cause });
        report(audience, false, performance.now() - started, error);
        throw error;
      },
    );
    p.catch(noop); // background refreshes have no awaiter
    e.inflight = p;
    return p;
  }

  function report(audience: string, ok: boolean, ms: number, error?: Error) {
    if (onFetch === undefined) return;
    try {
      onFetch(audience, ok, ms, error);
    } catch {
      // an observer must not break token delivery
    }
  }

  function peek(audience: string): string | undefined {
    if (closed) return undefined;
    const e = entryFor(audience);
    const now = Date.now();
    if (e.token !== undefined && now < e.validUntil) {
      if (now >= e.refreshAt && e.inflight === undefined && now >= e.backgroundNotBefore) startFetch(audience, e);
      return e.token;
    }
    e.token = undefined;
    if (e.inflight === undefined && now >= e.backgroundNotBefore) startFetch(audience, e);
    return undefined;
  }

  function get(audience: string): Promise<string> {
    if (closed) return Promise.reject(new Error('IdTokenSource is closed'));
    const e = entryFor(audience);
    const now = Date.now();
    if (e.token !== undefined && now < e.validUntil) {
      if (now >= e.refreshAt && e.inflight === undefined && now >= e.backgroundNotBefore) startFetch(audience, e);
      return Promise.resolve(e.token);
    }
    e.token = undefined;
    return startFetch(audience, e); // a caller who waits always gets a fresh attempt (no failure caching)
  }

  function fresh(audience: string): Promise<string> {
    if (closed) return Promise.reject(new Error('IdTokenSource is closed'));
    const e = entryFor(audience);
    if (e.token !== undefined && Date.now() < e.refreshAt) return Promise.resolve(e.token);
    return startFetch(audience, e);
  }

  async function prefetch(audiences: readonly string[]): Promise<boolean> {
    const results = await Promise.allSettled([...new Set(audiences)].map((a) => get(a)));
    return results.every((r) => r.status === 'fulfilled');
  }

  return {
    peek,
    get,
    prefetch,
    fresh,
    stats,
    close() {
      closed = true;
      entries.clear();
    },
  };
}
