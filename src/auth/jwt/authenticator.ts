/**
 * End-user JWT verification with ESPv2's (Envoy jwt_authn's) checks and order:
 * format → issuer among the operation's providers → exp/nbf (60 s skew) →
 * audience → signature with the issuer's JWKS. A token with a wrong audience
 * is refused without fetching any key.
 *
 * Verified tokens are cached (lru-cache, bounded like ESPv2's --jwt_cache_size,
 * keyed by the token's SHA-256, never the token) until they expire; a hit
 * re-checks only time and audience, which cost nothing next to a signature.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { compactVerify } from 'jose';
import type { GatewayError } from '../../errors.ts';
import type { JwtLocation, JwtScheme } from '../../config/types.ts';
import { jwtError, type JwtFailure } from './errors.ts';
import { JwksFetchError, JwksSource, type JwksOptions } from './jwks.ts';
import type { KeySource } from './jwks-file.ts';

/** What a verified token tells the rest of the pipeline. */
export interface VerifiedJwt {
  /** The verified claims. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The payload segment exactly as received (base64url, unpadded): X-Endpoint-API-UserInfo. */
  readonly payloadSegment: string;
  /** SHA-256 of the token, base64url: identifies it in caches and logs. */
  readonly tokenHash: string;
  /** Names of the operation's schemes that accept this token here. */
  readonly schemes: ReadonlySet<string>;
}

export interface JwtAuthenticatorOptions extends JwksOptions {
  /** Verified tokens kept (default 1000, ESPv2's --jwt_cache_size). */
  readonly cacheSize?: number;
  /** Allowed clock difference for exp/nbf, seconds (default 60, Envoy's clock_skew_seconds). */
  readonly clockSkewS?: number;
  /** Issuers whose keys come from a local file (--jwks-file), never fetched. */
  readonly localKeys?: { get(issuer: string): KeySource | undefined };
}

export interface JwtAuthenticatorStats {
  hits: number;
  misses: number;
  /** Signature verifications made. */
  verifications: number;
}

export interface JwtAuthenticator {
  /**
   * Verifies `token`, found at `location`, against the schemes (of one
   * operation) that name its issuer and that location. Resolves the verified
   * token when at least one accepts it, else ESPv2's error. Never rejects.
   */
  authenticate(token: string, location: JwtLocation, schemes: readonly JwtScheme[]): Promise<VerifiedJwt | GatewayError>;
  /** Fetches the keys of these schemes in the background (startup, reload). */
  prefetch(schemes: readonly JwtScheme[]): Promise<void>;
  /** OpenID discovery for the schemes without x-google-jwks_uri: the issuers whose discovery failed, with why. */
  discover(schemes: readonly JwtScheme[]): Promise<{ issuer: string; error: string }[]>;
  /** JWKS fetches made so far, all issuers. */
  jwksFetches(): number;
  readonly stats: Readonly<JwtAuthenticatorStats>;
  close(): void;
}

/** Asymmetric algorithms only: `none` and shared-secret HS* never verify a caller. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const ALGS = new Set(JWT_ALGORITHMS);
const MAX_TTL_MS = 3_600_000;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

interface Parsed {
  readonly claims: Record<string, unknown>;
  readonly payloadSegment: string;
  readonly iss: string;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
  /** `aud` sanitized as jwt_verify_lib does (no scheme, no trailing `/`). */
  readonly aud: readonly string[];
  /** JWKS sources whose keys verified the signature. */
  readonly verifiedBy: Set<string>;
}

/** jwt_verify_lib compares audiences without `http(s)://` and a trailing `/`. */
export function sanitizeAudience(aud: string): string {
  let a = aud.startsWith('https://') ? aud.slice(8) : aud.startsWith('http://') ? aud.slice(7) : aud;
  while (a.endsWith('/')) a = a.slice(0, -1);
  return a;
}

function decodeJson(segment: string): Record<string, unknown> | 'base64' | 'json' {
  if (!BASE64URL.test(segment)) return 'base64';
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : 'json';
  } catch {
    return 'json';
  }
}

/** Parses without verifying; the failure names Envoy's status. */
export function parseJwt(token: string): Parsed | JwtFailure {
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return 'badFormat';
  const header = decodeJson(token.slice(0, d1));
  if (header === 'base64') return 'headerBadBase64';
  if (header === 'json') return 'headerBadJson';
  if (typeof header.alg !== 'string') return 'headerBadAlg';
  if (!ALGS.has(header.alg)) return 'algNotImplemented';
  if (header.kid !== undefined && typeof header.kid !== 'string') return 'headerBadKid';
  const payloadSegment = token.slice(d1 + 1, d2);
  const claims = decodeJson(payloadSegment);
  if (claims === 'base64') return 'payloadBadBase64';
  if (claims === 'json') return 'payloadBadJson';
  if (!BASE64URL.test(token.slice(d2 + 1))) return 'signatureBadBase64';
  const { iss, sub, exp, nbf, aud } = claims;
  if (iss !== undefined && typeof iss !== 'string') return 'issNotString';
  if (sub !== undefined && typeof sub !== 'string') return 'subNotString';
  if (exp !== undefined && !Number.isFinite(exp)) return 'expNotInteger';
  if (nbf !== undefined && !Number.isFinite(nbf)) return 'nbfNotInteger';
  let audiences: string[];
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [sanitizeAudience(aud)];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud.map(sanitizeAudience);
  else return 'audNotString';
  return {
    claims,
    payloadSegment,
    iss: iss ?? '',
    exp: exp as number | undefined,
    nbf: nbf as number | undefined,
    aud: audiences,
    verifiedBy: new Set(),
  };
}

function sameLocation(a: JwtLocation, b: JwtLocation): boolean {
  return a === b || (a.in === b.in && a.name === b.name && a.valuePrefix === b.valuePrefix);
}

function failureOf(err: unknown): JwtFailure {
  if (err instanceof JwksFetchError) return 'jwksFetchFailed';
  switch ((err as { code?: string }).code) {
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'kidAlgMismatch';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algNotImplemented';
    default:
      return 'verificationFails';
  }
}

export function createJwtAuthenticator(opts: JwtAuthenticatorOptions = {}): JwtAuthenticator {
  const skew = opts.clockSkewS ?? 60;
  const cache = new LRUCache<string, Parsed>({ max: opts.cacheSize ?? 1000, ttl: MAX_TTL_MS, ttlAutopurge: false });
  // Keyed by JWKS URI (or issuer when discovered): shared by schemes and kept across spec reloads.
  const sources = new Map<string, KeySource>();
  const audiences = new WeakMap<JwtScheme, ReadonlySet<string>>();
  const stats: JwtAuthenticatorStats = { hits: 0, misses: 0, verifications: 0 };

  const sourceOf = (s: JwtScheme): KeySource => {
    const local = opts.localKeys?.get(s.issuer);
    if (local) return local;
    const id = s.jwksUri ?? `discover:${s.issuer}`;
    let src = sources.get(id);
    if (!src) sources.set(id, (src = new JwksSource(s.issuer, s.jwksUri, opts)));
    return src;
  };
  const audiencesOf = (s: JwtScheme): ReadonlySet<string> => {
    let set = audiences.get(s);
    if (!set) audiences.set(s, (set = new Set(s.audiences.map(sanitizeAudience))));
    return set;
  };

  async function authenticate(token: string, location: JwtLocation, schemes: readonly JwtScheme[]): Promise<VerifiedJwt | GatewayError> {
    const tokenHash = hash('sha256', token, 'base64url');
    let parsed = cache.get(tokenHash);
    const cached = parsed !== undefined;
    if (parsed === undefined) {
      stats.misses++;
      const p = parseJwt(token);
      if (typeof p === 'string') return jwtError(p);
      parsed = p;
    } else stats.hits++;

    let candidates = 0;
    for (const s of schemes) if (s.issuer === parsed.iss && s.locations.some((l) => sameLocation(l, location))) candidates++;
    if (candidates === 0) return jwtError('unknownIssuer');

    const now = Date.now() / 1000;
    if (parsed.exp !== undefined && now > parsed.exp + skew) return jwtError('expired');
    if (parsed.nbf !== undefined && now + skew < parsed.nbf) return jwtError('notYetValid');

    let failure: JwtFailure = 'unknownIssuer';
    let accepted: Set<string> | undefined;
    for (const s of schemes) {
      if (s.issuer !== parsed.iss || !s.locations.some((l) => sameLocation(l, location))) continue;
      const allowed = audiencesOf(s);
      if (!parsed.aud.some((a) => allowed.has(a))) {
        failure = 'audienceNotAllowed';
        continue;
      }
      const src = sourceOf(s);
      if (!parsed.verifiedBy.has(src.id)) {
        stats.verifications++;
        try {
          await compactVerify(token, src.key, { algorithms: JWT_ALGORITHMS });
          parsed.verifiedBy.add(src.id);
        } catch (err) {
          failure = failureOf(err);
          continue;
        }
      }
      (accepted ??= new Set()).add(s.name);
    }
    if (!accepted) return jwtError(failure);
    if (!cached) {
      const ttl = parsed.exp === undefined ? MAX_TTL_MS : Math.min(MAX_TTL_MS, Math.max(1, Math.floor((parsed.exp + skew) * 1000 - Date.now())));
      cache.set(tokenHash, parsed, { ttl });
    }
    return { claims: parsed.claims, payloadSegment: parsed.payloadSegment, tokenHash, schemes: accepted };
  }

  return {
    authenticate,
    prefetch: async (schemes) => {
      await Promise.all([...new Set(schemes.map(sourceOf))].map((s) => s.prefetch()));
    },
    discover: async (schemes) => {
      const failed: { issuer: string; error: string }[] = [];
      for (const s of schemes) {
        const src = sourceOf(s);
        if (s.jwksUri !== null || !(src instanceof JwksSource)) continue;
        const error = await src.discovered();
        if (error !== undefined && !failed.some((f) => f.issuer === s.issuer)) failed.push({ issuer: s.issuer, error });
      }
      return failed;
    },
    jwksFetches: () => {
      let n = 0;
      for (const s of sources.values()) n += s.fetches;
      return n;
    },
    stats,
    close: () => {
      cache.clear();
      sources.clear();
    },
  };
}
