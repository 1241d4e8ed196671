/**
 * Keys verified by Google's API Keys service (v2): lookupKey(keyString) gives
 * the key's resource name and project, getKey(name) its restrictions.
 *
 * `endpoint`: unset → Google's endpoint over gRPC with Application Default
 * Credentials; `http://host:port` → the REST surface over plain HTTP with no
 * credentials (emulators, tests); `https://host[:port]` → that host over gRPC
 * with ADC. Calls are never retried on the request path.
 */
import { ApiKeysClient } from '@google-cloud/apikeys';
import { GoogleAuth, PassThroughClient } from 'google-auth-library';
import { compileRestrictions, type RawRestrictions } from './compile.ts';
import { NOOP_LOGGER, type Logger } from './key-record.ts';
import { KeyServiceError, NOT_PERMITTED, type KeyStore } from './store.ts';

export interface GoogleKeyStoreOptions {
  endpoint?: string;
  /** Per call (lookupKey and getKey each); default 5000. */
  timeoutMs?: number;
  log?: Logger;
}

/** gRPC codes that mean "this key is not valid" rather than "the service is down". */
const CREDENTIALS_RETRY_MS = 5000;
const INVALID_CODES = new Set([3 /* INVALID_ARGUMENT */, 5 /* NOT_FOUND */]);
const PERMISSION_DENIED = 7;
const CODE_NAMES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED',
};

/**
 * What the service says of a key before its restrictions are compiled: plain
 * data, so a cluster's primary can make the calls and hand the answer to its
 * workers (src/workers/upstream-calls.ts). null: invalid; NOT_PERMITTED: the
 * service would not tell. Rejects with KeyServiceError on an outage.
 */
export type KeyAnswer =
  | { readonly name: string; readonly project: string; readonly displayName: string; readonly restrictions: RawRestrictions | null; readonly verifiedAt?: number }
  | null
  | typeof NOT_PERMITTED;

export interface GoogleKeyLookup {
  lookup(key: string): Promise<KeyAnswer>;
  close(): void;
}

/**
 * The store: `lookup` (default: this process's own calls to the service)
 * answers, the restrictions are compiled here, in the process that checks them.
 */
export function createGoogleKeyStore(opts: GoogleKeyStoreOptions = {}, via: GoogleKeyLookup = createGoogleKeyLookup(opts)): KeyStore {
  const log = opts.log ?? NOOP_LOGGER;
  return {
    async lookup(key) {
      const a = await via.lookup(key);
      if (a === null || a === NOT_PERMITTED) return a;
      const problems: string[] = [];
      const restrictions = compileRestrictions(a.restrictions, problems);
      if (problems.length > 0) log.warn({ keyName: a.name, problems }, 'API key has malformed restrictions; the malformed entries deny');
      return { name: a.name, project: a.project, displayName: a.displayName, restrictions, ...(a.verifiedAt !== undefined ? { verifiedAt: a.verifiedAt } : {}) };
    },
    close: () => via.close(),
  };
}

/** lookupKey then getKey, in this process. */
export function createGoogleKeyLookup(opts: GoogleKeyStoreOptions = {}): GoogleKeyLookup {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const log = opts.log ?? NOOP_LOGGER;
  const clients = clientFactory(opts.endpoint);
  let client: ApiKeysClient | null = null;
  let pending: Promise<ApiKeysClient> | null = null;
  const callOpts = { timeout: timeoutMs };
  let closed = false;

  // One client, made on first use; if credentials cannot be found the next
  // lookup tries again (and this one reports an outage).
  let failedAt = 0;
  let failure: unknown;
  function getClient(): Promise<ApiKeysClient> {
    if (client) return Promise.resolve(client);
    // Credentials just failed: answer the same for a few seconds instead of probing per request.
    if (Date.now() - failedAt < CREDENTIALS_RETRY_MS) return Promise.reject(failure);
    pending ??= clients().then(
      (c) => {
        pending = null;
        if (closed) c.close().catch(() => {});
        else client = c;
        return c;
      },
      (err: unknown) => {
        pending = null;
        failedAt = Date.now();
        failure = err;
        throw err;
      },
    );
    return pending;
  }

  let lastDeniedLog = -Infinity;
  async function lookup(key: string): Promise<KeyAnswer> {
    if (closed) throw new KeyServiceError('API Keys client is closed');
    let parent: string | null | undefined;
    let name: string | null | undefined;
    let client: ApiKeysClient;
    try {
      client = await getClient();
    } catch (err) {
      throw serviceError('credentials', err, key);
    }
    try {
      const [res] = await onceMoreOnReset(() => settleWithin(client.lookupKey({ keyString: key }, callOpts), timeoutMs));
      parent = res.parent;
      name = res.name;
    } catch (err) {
      if (isInvalid(err)) return null;
      if (codeOf(err) === PERMISSION_DENIED) {
        // Also what a gateway without roles/serviceusage.apiKeysViewer (or with the API Keys API
        // disabled) sees for every key: say so where the operator looks, at most every 10 s.
        const now = Date.now();
        if (now - lastDeniedLog >= 10_000) {
          lastDeniedLog = now;
          log.warn({}, "lookupKey permission denied: the key's project does not let this gateway read its keys (apikeys.keys.lookup), or the API Keys API is not enabled");
        }
        return NOT_PERMITTED;
      }
      throw serviceError('lookupKey', err, key);
    }
    // A purged key has no name.
    if (!name) return null;
    let k;
    try {
      [k] = await onceMoreOnReset(() => settleWithin(client.getKey({ name: name! }, callOpts), timeoutMs));
    } catch (err) {
      if (isInvalid(err)) return null;
      if (codeOf(err) === PERMISSION_DENIED) {
        log.warn({ keyName: name }, "getKey permission denied: the gateway needs apikeys.keys.get on the key's project");
        return NOT_PERMITTED;
      }
      throw serviceError('getKey', err, key);
    }
    if (k.deleteTime) return null;
    const project = projectOf(parent) ?? projectOf(name) ?? '';
    return { name, project, displayName: k.displayName ?? '', restrictions: (k.restrictions as RawRestrictions | null | undefined) ?? null };
  }

  return {
    lookup: (key) => lookup(key),
    close() {
      if (closed) return;
      closed = true;
      client?.close().catch(() => {});
      client = null;
    },
  };
}

/** Throws, as creating the lookup does, on an endpoint that is not an http:// or https:// URL. */
export function checkApiKeysEndpoint(endpoint: string | undefined): void {
  parseEndpoint(endpoint);
}

type Target = { readonly rest: boolean; readonly host?: string; readonly port?: number };

function parseEndpoint(endpoint: string | undefined): Target {
  if (endpoint === undefined || endpoint === '') return { rest: false };
  const u = URL.parse(endpoint);
  if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '')
    throw new Error(`--apikeys-endpoint must be an http:// or https:// URL, got "${endpoint}"`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const rest = u.protocol === 'http:';
  return { rest, host, port: Number(u.port || (rest ? 80 : 443)) };
}

/**
 * With ADC, credentials are resolved by us before the client exists: when the
 * library resolves them itself and fails, the failure also escapes as
 * unhandled rejections (from the stubs it makes at initialize()), which would
 * crash the process. Given a resolved GoogleAuth it only sees a cached client.
 */
function clientFactory(endpoint: string | undefined): () => Promise<ApiKeysClient> {
  const t = parseEndpoint(endpoint); // throws now, not on the first request
  if (t.rest) {
    // REST over plain HTTP, no credentials. `protocol` is not in the typings;
    // `port` must be its own option (the library ignores one in apiEndpoint).
    const options = { fallback: 'rest', protocol: 'http', apiEndpoint: t.host, port: t.port, authClient: new PassThroughClient() };
    const c = new ApiKeysClient(options as ConstructorParameters<typeof ApiKeysClient>[0]);
    return () => Promise.resolve(c);
  }
  return async () => {
    const auth = new GoogleAuth({ scopes: [...ApiKeysClient.scopes] });
    await auth.getClient();
    return new ApiKeysClient({ auth, ...(t.host !== undefined ? { apiEndpoint: t.host, port: t.port } : {}) });
  };
}

/**
 * The library enforces `timeout` itself; this is a backstop so a hung call can
 * never hold a request, and it keeps the late settlement of the original
 * promise handled.
 */
/**
 * A keep-alive connection the service closed just as it was reused resets the next call at
 * once; the lookups are reads, so such a call is made once more before it counts as an outage
 * (which would refuse a never-seen key 503).
 */
async function onceMoreOnReset<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!wasReset(err)) throw err;
    return call();
  }
}

function wasReset(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE' || /ECONNRESET|EPIPE|socket hang up/.test(String(e.message ?? ''))) return true;
  }
  return false;
}

function settleWithin<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error('deadline exceeded'), { code: 4 })), timeoutMs + 1000);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function codeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

function isInvalid(err: unknown): boolean {
  const c = codeOf(err);
  return c !== undefined && INVALID_CODES.has(c);
}

/** A KeyServiceError with the library's message, minus the key (it may quote the request URL). */
function serviceError(call: string, err: unknown, key: string): KeyServiceError {
  const code = codeOf(err);
  const raw = err instanceof Error ? err.message : String(err);
  const text = raw.split(key).join('<redacted>').split(encodeURIComponent(key)).join('<redacted>').slice(0, 300);
  const fallback = call === 'credentials' ? 'no credentials' : 'network';
  const label = code === undefined ? ((err as { code?: unknown } | null)?.code ?? fallback) : (CODE_NAMES[code] ?? code);
  return new KeyServiceError(`API Keys ${call} failed (${String(label)}): ${text}`, code);
}

function projectOf(resource: string | null | undefined): string | null {
  if (!resource || !resource.startsWith('projects/')) return null;
  const end = resource.indexOf('/', 9);
  return end === -1 ? resource.slice(9) : resource.slice(9, end);
}
