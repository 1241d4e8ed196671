// A wire-level stand-in for Google's API Keys service (v2), REST surface only:
//   GET /v2/keys:lookupKey?keyString=K  → {parent, name}
//   GET /v2/projects/P/locations/global/keys/ID → the Key resource (proto3 JSON, camelCase)
// so the gateway's real client (google-auth-library's PassThroughClient over plain http) can be pointed at it.
// Errors use Google's body {error: {code, message, status}}. Loopback only.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface EmulatedKey {
  keyString: string;
  /** Project number; default 123456789. */
  project?: string;
  /** Key id (last segment of the resource name); default k<n>. */
  id?: string;
  displayName?: string;
  /** The Key's `restrictions` (camelCase, as the service returns it); absent/null = unrestricted. */
  restrictions?: Record<string, unknown> | null;
  /** Soft-deleted: lookupKey still answers, getKey carries deleteTime. */
  deleted?: boolean;
}

/** An HTTP status to answer with, or 'reset' to drop the connection. */
export type Failure = number | 'reset';

export interface ApiKeysEmulatorOptions {
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

export interface ApiKeysEmulator {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`), for --apikeys-endpoint. */
  readonly url: string;
  readonly counts: { lookupKey: number; getKey: number; other: number };
  /** The Authorization header of every call, in order ('' when there was none). */
  readonly authorizations: readonly string[];
  /** Adds (or replaces) a key; returns its resource name. */
  addKey(k: EmulatedKey): string;
  /** Purges a key: lookupKey answers NOT_FOUND. */
  removeKey(keyString: string): void;
  /** Every call fails this way until cleared with null. */
  setFailure(f: Failure | null): void;
  /** lookupKey for this one key answers this status. */
  setLookupStatus(keyString: string, status: number | null): void;
  setDelayMs(ms: number): void;
  /**
   * Holds every answer (after counting the call) until the returned function is
   * called: a verification that finishes meanwhile did not wait for the service.
   */
  hold(): () => void;
  resetCounts(): void;
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

interface Stored {
  readonly name: string;
  readonly project: string;
  readonly key: EmulatedKey;
}

export async function startApiKeysEmulator(opts: ApiKeysEmulatorOptions = {}): Promise<ApiKeysEmulator> {
  const authorizations: string[] = [];
  const byKeyString = new Map<string, Stored>();
  const byName = new Map<string, Stored>();
  const lookupStatus = new Map<string, number>();
  const counts = { lookupKey: 0, getKey: 0, other: 0 };
  const sockets = new Set<Socket>();
  let failure: Failure | null = null;
  let delayMs = 0;
  let held: Promise<void> | undefined;
  let seq = 0;

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, message: string): void =>
    json(res, status, { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://emulator');
    const path = decodeURIComponent(u.pathname);
    const isLookup = path === '/v2/keys:lookupKey';
    const isGet = !isLookup && path.startsWith('/v2/projects/');
    authorizations.push(req.headers.authorization ?? '');
    if (isLookup) counts.lookupKey++;
    else if (isGet) counts.getKey++;
    else counts.other++;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    await held;
    if (failure === 'reset') {
      req.socket.destroy();
      return;
    }
    if (failure !== null) return error(res, failure, 'The service is currently unavailable.');
    if (req.method !== 'GET') return error(res, 404, 'Not found');
    if (isLookup) {
      const ks = u.searchParams.get('keyString') ?? '';
      const forced = lookupStatus.get(ks);
      if (forced !== undefined) return error(res, forced, 'Lookup refused.');
      const s = byKeyString.get(ks);
      if (s === undefined) return error(res, 404, 'The API key was not found.');
      return json(res, 200, { parent: `projects/${s.project}`, name: s.name });
    }
    if (isGet) {
      const s = byName.get(path.slice('/v2/'.length));
      if (s === undefined) return error(res, 404, 'Key not found.');
      const body: Record<string, unknown> = {
        name: s.name,
        uid: `uid-${s.name.slice(s.name.lastIndexOf('/') + 1)}`,
        displayName: s.key.displayName ?? '',
        createTime: '2026-01-01T00:00:00Z',
        updateTime: '2026-01-02T00:00:00Z',
        etag: `W/"${s.name}"`,
      };
      if (s.key.restrictions) body.restrictions = s.key.restrictions;
      if (s.key.deleted) body.deleteTime = '2026-02-01T00:00:00Z';
      return json(res, 200, body);
    }
    return error(res, 404, 'Not found');
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => error(res, 500, String(err)));
  };
  const server = opts.tls ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : createServer(onRequest);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    counts,
    authorizations,
    addKey(k) {
      const project = k.project ?? '123456789';
      const name = `projects/${project}/locations/global/keys/${k.id ?? `k${++seq}`}`;
      const prev = byKeyString.get(k.keyString);
      if (prev) byName.delete(prev.name);
      const s = { name, project, key: k };
      byKeyString.set(k.keyString, s);
      byName.set(name, s);
      return name;
    },
    removeKey(keyString) {
      const s = byKeyString.get(keyString);
      if (s === undefined) return;
      byKeyString.delete(keyString);
      byName.delete(s.name);
    },
    setFailure(f) {
      failure = f;
    },
    setLookupStatus(keyString, status) {
      if (status === null) lookupStatus.delete(keyString);
      else lookupStatus.set(keyString, status);
    },
    setDelayMs(ms) {
      delayMs = ms;
    },
    hold() {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return () => {
        held = undefined;
        release();
      };
    },
    resetCounts() {
      counts.lookupKey = 0;
      counts.getKey = 0;
      counts.other = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
