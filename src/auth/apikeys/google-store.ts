/**
 * Keys verified by Google's API Keys service (v2): lookupKey(keyString) gives
 * the key's resource name and project, getKey(name) its restrictions.
 *
 * The two calls are the service's REST methods, made through
 * google-auth-library (Application Default Credentials, token refresh, its
 * HTTP client), which the gateway loads anyway for ID tokens. Not through
 * @google-cloud/apikeys: its gRPC/protobuf stack (google-gax, grpc-js,
 * protobufjs) cost ~0.4 s of every start before the first key could be checked,
 * and ~25 MB of RSS in every process, for two GETs (README, cold start).
 *
 * `endpoint`: unset → https://apikeys.googleapis.com with ADC;
 * `http://host:port` → that host over plain HTTP with no credentials
 * (emulators, tests); `https://host[:port]` → that host with ADC. Calls are
 * never retried on the request path (a reset keep-alive connection aside).
 */
import { GoogleAuth, PassThroughClient, type AuthClient } from 'google-auth-library';
import { compileRestrictions, type RawRestrictions } from './compile.ts';
import { NOOP_LOGGER, type Logger } from './key-record.ts';
import { KeyServiceError, NOT_PERMITTED, type KeyStore } from './store.ts';

export interface GoogleKeyStoreOptions {
  endpoint?: string;
  /** Per call (lookupKey and getKey each); default 5000. */
  timeoutMs?: number;
  log?: Logger;
}

const GOOGLE_ENDPOINT = 'https://apikeys.googleapis.com';
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
const CREDENTIALS_RETRY_MS = 5000;
/**
 * The service's errors as gRPC codes (google.rpc.Code, what its JSON error's
 * `status` names): the codes are what the rest of this file and the operator's
 * messages speak.
 */
const CODES = {
  CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;
const CODE_OF_NAME: Readonly<Record<string, number>> = CODES;
/** When the error body names no status: the HTTP status's code (Google's HTTP mapping of google.rpc.Code). */
const CODE_OF_HTTP: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 499: 1, 500: 13, 501: 12, 503: 14, 504: 4 };
/** Codes that mean "this key is not valid" rather than "the service is down". */
const INVALID_CODES: ReadonlySet<number> = new Set([CODES.INVALID_ARGUMENT, CODES.NOT_FOUND]);
const PERMISSION_DENIED = CODES.PERMISSION_DENIED;
const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k]));
/** A key's resource name, as lookupKey returns it; anything else is never put in a URL. */
const KEY_NAME = /^projects\/[^/?#%]+\/locations\/[^/?#%]+\/keys\/[^/?#%]+$/;

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
  const target = parseEndpoint(opts.endpoint); // throws now, not on the first request
  const base = target.base;
  let client: AuthClient | null = null;
  let pending: Promise<AuthClient> | null = null;
  let closed = false;

  // One client, made on first use; if credentials cannot be found the next
  // lookup tries again (and this one reports an outage).
  let failedAt = 0;
  let failure: unknown;
  function getClient(): Promise<AuthClient> {
    if (client) return Promise.resolve(client);
    // Credentials just failed: answer the same for a few seconds instead of probing per request.
    if (Date.now() - failedAt < CREDENTIALS_RETRY_MS) return Promise.reject(failure);
    pending ??= authClient(target.credentials).then(
      (c) => {
        pending = null;
        if (!closed) client = c;
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

  /** One GET of the service's JSON; rejects with the error, its `code` the gRPC code when the service said one. */
  async function get(c: AuthClient, url: string): Promise<Record<string, unknown>> {
    try {
      const res = await c.request<unknown>({ url, method: 'GET', timeout: timeoutMs, responseType: 'json', retry: false });
      const data = res.data;
      return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
    } catch (err) {
      throw withGrpcCode(err);
    }
  }

  let lastDeniedLog = -Infinity;
  async function lookup(key: string): Promise<KeyAnswer> {
    if (closed) throw new KeyServiceError('API Keys client is closed');
    let parent: unknown;
    let name: unknown;
    let c: AuthClient;
    try {
      c = await getClient();
    } catch (err) {
      throw serviceError('credentials', err, key);
    }
    try {
      const res = await onceMoreOnReset(() => settleWithin(get(c, `${base}/v2/keys:lookupKey?keyString=${encodeURIComponent(key)}`), timeoutMs));
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
    if (typeof name !== 'string' || name === '') return null;
    if (!KEY_NAME.test(name)) throw new KeyServiceError('API Keys lookupKey failed (UNKNOWN): the answer named no key resource');
    let k: Record<string, unknown>;
    try {
      k = await onceMoreOnReset(() => settleWithin(get(c, `${base}/v2/${name}`), timeoutMs));
    } catch (err) {
      if (isInvalid(err)) return null;
      if (codeOf(err) === PERMISSION_DENIED) {
        log.warn({ keyName: name }, "getKey permission denied: the gateway needs apikeys.keys.get on the key's project");
        return NOT_PERMITTED;
      }
      throw serviceError('getKey', err, key);
    }
    if (k.deleteTime) return null;
    const project = projectOf(typeof parent === 'string' ? parent : null) ?? projectOf(name) ?? '';
    const restrictions = typeof k.restrictions === 'object' && k.restrictions !== null ? (k.restrictions as RawRestrictions) : null;
    return { name, project, displayName: typeof k.displayName === 'string' ? k.displayName : '', restrictions };
  }

  return {
    lookup: (key) => lookup(key),
    close() {
      // Nothing to close: the client's connections are its HTTP agent's, idle ones time out.
      closed = true;
      client = null;
    },
  };
}

/** Throws, as creating the lookup does, on an endpoint that is not an http:// or https:// URL. */
export function checkApiKeysEndpoint(endpoint: string | undefined): void {
  parseEndpoint(endpoint);
}

type Target = { readonly base: string; readonly credentials: boolean };

function parseEndpoint(endpoint: string | undefined): Target {
  if (endpoint === undefined || endpoint === '') return { base: GOOGLE_ENDPOINT, credentials: true };
  const u = URL.parse(endpoint);
  if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '')
    throw new Error(`--apikeys-endpoint must be an http:// or https:// URL, got "${endpoint}"`);
  // Only the origin: the service's paths (/v2/...) are the same wherever it is.
  return { base: u.origin, credentials: u.protocol === 'https:' };
}

/**
 * With ADC, credentials are resolved here, before the first call, so that a
 * failure is one rejected promise this file handles (and retries after a pause).
 */
async function authClient(credentials: boolean): Promise<AuthClient> {
  if (!credentials) return new PassThroughClient();
  return new GoogleAuth({ scopes: SCOPES }).getClient();
}

/** The gRPC code of a failed call: from the service's JSON error (its `status`), else from the HTTP status. */
function withGrpcCode(err: unknown): unknown {
  const e = err as { status?: unknown; response?: { status?: unknown; data?: unknown } } | null;
  const http = typeof e?.status === 'number' ? e.status : typeof e?.response?.status === 'number' ? e.response.status : undefined;
  if (http === undefined) return err;
  const body = (e?.response?.data as { error?: { status?: unknown } } | undefined)?.error;
  const named = typeof body?.status === 'string' ? CODE_OF_NAME[body.status] : undefined;
  const code = named ?? CODE_OF_HTTP[http] ?? (http >= 500 ? CODES.UNAVAILABLE : CODES.UNKNOWN);
  const message = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(message, { cause: err }), { code });
}

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

/**
 * The client enforces `timeout` itself; this is a backstop so a hung call can
 * never hold a request, and it keeps the late settlement of the original
 * promise handled.
 */
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
