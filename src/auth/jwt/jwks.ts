/**
 * One issuer's signing keys. jose's `createRemoteJWKSet` does the fetching:
 * concurrent fetches share one request, keys are cached, and a token whose
 * `kid` is unknown makes it refetch (key rotation) unless the last fetch is
 * younger than the cooldown. On top of it:
 * - ESPv2's cache duration (5 min, `--jwks_cache_duration_in_s`);
 * - refresh ahead: once 80 % of that has passed, a request starts one
 *   background refetch, so requests never wait for a routine refresh;
 * - OpenID discovery when the spec gives no `x-google-jwks_uri`: one cached
 *   fetch of `<issuer>/.well-known/openid-configuration` (retried after a failure).
 */
import { createRemoteJWKSet, customFetch, jwksCache, type CryptoKey, type JWSHeaderParameters, type FlattenedJWSInput, type ExportedJWKSCache } from 'jose';

export interface JwksOptions {
  /** How long fetched keys are used (default 5 min). */
  readonly cacheMs?: number;
  /** Minimum time between refetches caused by an unknown `kid` (default 30 s). */
  readonly cooldownMs?: number;
  /** Fetch deadline (default 5 s). */
  readonly timeoutMs?: number;
  /** After a failed fetch or discovery, requests fail fast this long before the next try (default 2 s). */
  readonly retryMs?: number;
  readonly onFetchError?: (url: string, err: Error) => void;
  /** How the key set is fetched (default x509AwareFetch; a cluster worker asks its primary: src/workers/upstream-calls.ts). */
  readonly fetchKeys?: (url: string, options: RequestInit) => Promise<Response>;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

import { x509AwareFetch } from './x509-jwks.ts';

/** Thrown by `JwksSource.key` when the keys (or the discovery document) cannot be fetched. */
export class JwksFetchError extends Error {}

/** The discovery URL ESPv2 uses: https:// added when the issuer has no scheme, trailing `/` dropped. */
export function discoveryUrl(issuer: string): string {
  const base = /^https?:\/\//.test(issuer) ? issuer : `https://${issuer}`;
  return `${base.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

export class JwksSource {
  readonly id: string;
  private readonly issuer: string;
  private readonly jwksUri: string | null;
  private readonly cacheMs: number;
  private readonly cooldownMs: number;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly onFetchError: ((url: string, err: Error) => void) | undefined;
  private readonly fetchKeys: (url: string, options: RequestInit) => Promise<Response>;
  /** jose writes `uat` (last successful fetch) here. */
  private readonly cache: ExportedJWKSCache | Record<string, never> = {};
  private remote: ReturnType<typeof createRemoteJWKSet> | undefined;
  private discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  private discoveryFailedAt = 0;
  private nextBackgroundTry = 0;
  private fetchFailedAt = 0;
  fetches = 0;

  constructor(issuer: string, jwksUri: string | null, opts: JwksOptions = {}) {
    this.issuer = issuer;
    this.jwksUri = jwksUri;
    this.id = jwksUri ?? `discover:${issuer}`;
    this.cacheMs = opts.cacheMs ?? 300_000;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retryMs = opts.retryMs ?? 2_000;
    this.onFetchError = opts.onFetchError;
    this.fetchKeys = opts.fetchKeys ?? x509AwareFetch;
    if (jwksUri !== null) this.remote = this.createRemote(jwksUri);
  }

  private createRemote(url: string): ReturnType<typeof createRemoteJWKSet> {
    return createRemoteJWKSet(new URL(url), {
      cacheMaxAge: this.cacheMs,
      cooldownDuration: this.cooldownMs,
      timeoutDuration: this.timeoutMs,
      [jwksCache]: this.cache,
      // Google's service-account endpoints publish X.509 certificates by kid, not a JWKS.
      [customFetch]: this.fetchKeys,
    });
  }

  private async resolveRemote(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.remote) return this.remote;
    if (!this.discovering) {
      if (Date.now() - this.discoveryFailedAt < this.retryMs) throw new JwksFetchError('OpenID discovery failed recently');
      const url = discoveryUrl(this.issuer);
      this.discovering = this.discover(url).then(
        (jwksUri) => (this.remote = this.createRemote(jwksUri)),
        (err: Error) => {
          this.discovering = undefined;
          this.discoveryFailedAt = Date.now();
          this.onFetchError?.(url, err);
          throw new JwksFetchError(err.message);
        },
      );
    }
    return this.discovering;
  }

  private async discover(url: string): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'manual', headers: { accept: 'application/json' } });
    if (res.status !== 200) throw new Error(`OpenID discovery answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: unknown };
    if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error('OpenID discovery document has no jwks_uri');
    return doc.jwks_uri;
  }

  /** jose's key resolver for `compactVerify`; a fetch failure becomes JwksFetchError. */
  readonly key: KeyResolver = async (header, token) => {
    let remote: ReturnType<typeof createRemoteJWKSet>;
    try {
      remote = await this.resolveRemote();
    } catch (err) {
      throw err instanceof JwksFetchError ? err : new JwksFetchError((err as Error).message);
    }
    // During an outage, fail fast instead of one doomed fetch per request.
    if (!remote.fresh && Date.now() - this.fetchFailedAt < this.retryMs) throw new JwksFetchError('JWKS fetch failed recently');
    this.refreshAhead(remote);
    const before = (this.cache as ExportedJWKSCache).uat;
    try {
      return await remote(header, token);
    } catch (err) {
      const e = err as Error & { code?: string };
      // Key selection problems are the token's fault; anything else is the fetch.
      if (e.code === 'ERR_JWKS_NO_MATCHING_KEY' || e.code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || e.code === 'ERR_JOSE_NOT_SUPPORTED') throw err;
      if ((this.cache as ExportedJWKSCache).uat === before) {
        this.fetchFailedAt = Date.now();
        this.onFetchError?.(this.jwksUri ?? this.id, e);
        throw new JwksFetchError(e.message);
      }
      throw err;
    } finally {
      if ((this.cache as ExportedJWKSCache).uat !== before) this.fetches++;
    }
  };

  /** One background refetch once the keys are 80 % through their cache time; failures retry later. */
  private refreshAhead(remote: ReturnType<typeof createRemoteJWKSet>): void {
    const uat = (this.cache as ExportedJWKSCache).uat;
    if (uat === undefined || remote.reloading) return;
    const now = Date.now();
    if (now - uat < this.cacheMs * 0.8 || now < this.nextBackgroundTry) return;
    this.nextBackgroundTry = now + Math.min(this.retryMs, this.cacheMs * 0.1);
    remote.reload().then(
      () => this.fetches++,
      (err: Error) => this.onFetchError?.(this.jwksUri ?? this.id, err),
    );
  }

  /**
   * OpenID discovery now, whatever the last failure: undefined once the
   * issuer's jwks_uri is known (or none is needed), else why it failed.
   */
  async discovered(): Promise<string | undefined> {
    if (this.remote) return undefined;
    this.discoveryFailedAt = 0;
    try {
      await this.resolveRemote();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Fetches the keys now (startup warm-up). Resolves whether it worked. */
  async prefetch(): Promise<boolean> {
    try {
      const remote = await this.resolveRemote();
      if ((this.cache as ExportedJWKSCache).uat !== undefined) return true;
      await remote.reload();
      this.fetches++;
      return true;
    } catch (err) {
      this.onFetchError?.(this.jwksUri ?? this.id, err as Error);
      return false;
    }
  }
}
