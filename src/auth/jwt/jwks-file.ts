/**
 * `--jwks-file ISSUER=PATH`: an issuer's signing keys from a local JWKS file
 * instead of its `x-google-jwks_uri` or OpenID discovery, so a CI job can
 * verify tokens it signs itself without the gateway reaching the network.
 *
 * - The file is a JSON Web Key Set (`{"keys": [...]}`). Private members
 *   (`d`, `p`, ...) are dropped on reading, so the file a test signs with can
 *   be handed over as it is; symmetric (`oct`) keys are refused, as HS* tokens are.
 * - Read and checked at start: a missing or broken file stops `serve` before it
 *   listens. Read again on every reload (SIGHUP, `--watch`), and when a token
 *   names a key the file does not hold and the file changed since (checked at
 *   most once a second), so rotating keys needs no restart. A broken new file
 *   keeps the keys read before, with an error logged.
 */
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, importJWK, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';
import type { JwksFileEntry } from './jwks-file-option.ts';

export type { JwksFileEntry } from './jwks-file-option.ts';

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** What the authenticator needs of an issuer's keys, remote (JwksSource) or local (JwksFileSource). */
export interface KeySource {
  /** Identifies the keys in the verified-token cache. */
  readonly id: string;
  readonly key: KeyResolver;
  /** Gets the keys ready (startup, reload); resolves whether they are. */
  prefetch(): Promise<boolean>;
  /** Network fetches made (always 0 for a file). */
  readonly fetches: number;
}

interface Log {
  error(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

export class JwksFileError extends Error {}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv'];
const ALG_OF: Record<string, string> = { RSA: 'RS256', 'EC:P-256': 'ES256', 'EC:P-384': 'ES384', 'EC:P-521': 'ES512', OKP: 'EdDSA' };

/** The file's public keys, each checked by importing it; throws JwksFileError naming the file and the key. */
export async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new JwksFileError(`--jwks-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new JwksFileError(`--jwks-file ${path}: not JSON (${(err as Error).message})`);
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (doc === null || typeof doc !== 'object' || !Array.isArray(list)) throw new JwksFileError(`--jwks-file ${path}: must be a JSON Web Key Set, {"keys": [...]}`);
  if (list.length === 0) throw new JwksFileError(`--jwks-file ${path}: holds no keys`);
  const keys: JWK[] = [];
  for (const [i, raw] of list.entries()) {
    const label = `--jwks-file ${path}: keys[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new JwksFileError(`${label} is not a JSON object`);
    const jwk: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
    if (jwk.kty === 'oct') throw new JwksFileError(`${label} is a symmetric key (kty "oct"); only RSA, EC and OKP public keys verify callers`);
    for (const m of PRIVATE_MEMBERS) delete jwk[m];
    // jose would refuse a private JWK's key_ops (["sign"]) for verifying.
    if (Array.isArray(jwk.key_ops)) delete jwk.key_ops;
    const alg = typeof jwk.alg === 'string' ? jwk.alg : ALG_OF[jwk.kty === 'EC' ? `EC:${String(jwk.crv)}` : String(jwk.kty)];
    if (alg === undefined) throw new JwksFileError(`${label} has kty "${String(jwk.kty)}"; use RSA, EC (P-256, P-384, P-521) or OKP keys`);
    try {
      await importJWK(jwk as JWK, alg);
    } catch (err) {
      throw new JwksFileError(`${label} is not a usable ${alg} key (${(err as Error).message})`);
    }
    keys.push(jwk as JWK);
  }
  return { keys };
}

interface FileStamp {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

const stampOf = async (path: string): Promise<FileStamp | undefined> =>
  stat(path).then(
    (s) => ({ mtimeMs: s.mtimeMs, size: s.size, ino: s.ino }),
    () => undefined,
  );
const sameStamp = (a: FileStamp | undefined, b: FileStamp | undefined) =>
  a !== undefined && b !== undefined && a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

/** One issuer's keys from one file. */
export class JwksFileSource implements KeySource {
  readonly id: string;
  readonly issuer: string;
  readonly path: string;
  readonly fetches = 0;
  private resolver: KeyResolver;
  private stamp: FileStamp | undefined;
  private lastLook = 0;
  private readonly log: Log | undefined;

  private constructor(entry: JwksFileEntry, jwks: JSONWebKeySet, stamp: FileStamp | undefined, log: Log | undefined) {
    this.issuer = entry.issuer;
    this.path = entry.path;
    this.id = `file:${entry.issuer}=${entry.path}`;
    this.resolver = createLocalJWKSet(jwks);
    this.stamp = stamp;
    this.log = log;
  }

  /** Throws JwksFileError when the file cannot be used. */
  static async load(entry: JwksFileEntry, log?: Log): Promise<JwksFileSource> {
    const stamp = await stampOf(entry.path);
    return new JwksFileSource(entry, await readJwksFile(entry.path), stamp, log);
  }

  /** Reads the file again; on a problem, logs it and keeps the keys it had. Resolves whether new keys were read. */
  async reload(): Promise<boolean> {
    const stamp = await stampOf(this.path);
    try {
      const jwks = await readJwksFile(this.path);
      this.resolver = createLocalJWKSet(jwks);
      this.stamp = stamp;
      return true;
    } catch (err) {
      this.stamp = stamp; // the same broken bytes are not tried again on every token
      this.log?.error({ issuer: this.issuer, err: (err as Error).message }, 'could not re-read a --jwks-file; keeping the keys read before');
      return false;
    }
  }

  readonly key: KeyResolver = async (header, token) => {
    try {
      return await this.resolver(header, token);
    } catch (err) {
      // An unknown kid: the file may have been rotated since it was read.
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || !(await this.changedSince())) throw err;
      await this.reload();
      return this.resolver(header, token);
    }
  };

  private async changedSince(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastLook < 1000) return false;
    this.lastLook = now;
    return !sameStamp(await stampOf(this.path), this.stamp);
  }

  async prefetch(): Promise<boolean> {
    return true;
  }
}

/** Every `--jwks-file`, by issuer. */
export interface LocalJwks {
  get(issuer: string): KeySource | undefined;
  has(issuer: string): boolean;
  /** Re-reads every file (a spec reload). */
  reload(): Promise<void>;
  /** Issuers given a file that none of `issuers` (the spec's) names: a typo, most likely. */
  unused(issuers: Iterable<string>): string[];
}

/** Reads every file; throws JwksFileError (before the gateway listens) when one cannot be used. */
export async function loadJwksFiles(entries: readonly JwksFileEntry[], log?: Log): Promise<LocalJwks> {
  const sources = new Map<string, JwksFileSource>();
  for (const e of entries) sources.set(e.issuer, await JwksFileSource.load(e, log));
  return {
    get: (issuer) => sources.get(issuer),
    has: (issuer) => sources.has(issuer),
    reload: async () => {
      await Promise.all([...sources.values()].map((s) => s.reload()));
    },
    unused: (issuers) => {
      const named = new Set(issuers);
      return [...sources.keys()].filter((i) => !named.has(i));
    },
  };
}
