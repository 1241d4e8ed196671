/**
 * The session: what the gateway keeps about a signed-in person, sealed in
 * the session cookie (sealed-cookie.ts) or, with a session store, in the
 * store behind an opaque id (session-store.ts). Only what requests need:
 * subject, email, email_verified, name, groups, issuer, the absolute expiry,
 * the client id and public origin it was issued for (a session is accepted
 * by that app only), and, when the provider granted offline access, its
 * refresh token (encrypted with the rest).
 */
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { SealedCookieCodec } from './sealed-cookie.ts';

/** The identity part: what authorization checks and backends see. */
export interface SessionIdentity {
  readonly iss: string;
  readonly sub: string;
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly name?: string;
  readonly groups?: readonly string[];
  /** Other claims the spec's x-endpoints-authorization rules name (e.g. Google's `hd`). */
  readonly [claim: string]: unknown;
}

export interface Session {
  readonly identity: SessionIdentity;
  /** Seconds since the epoch: fixed at sign-in, never moved by a refresh. */
  readonly exp: number;
  /** Signed in at (seconds since the epoch). */
  readonly iat: number;
  /** When the identity was last renewed with the refresh token (or signed in). */
  readonly rf: number;
  /** The provider's client id (audience) the session was issued for. */
  readonly aud: string;
  /** The public origin it was issued on, or `scheme://.domain` when shared by a parent domain. */
  readonly or: string;
  /** The provider's refresh token, when offline access was granted. */
  readonly rt?: string;
  /**
   * Further client ids of the same provider the session was granted for: with a shared
   * cookie domain, signing in as the same person on a service with another client adds
   * that client here instead of replacing the session. The refresh token stays `aud`'s.
   */
  readonly also?: readonly string[];
}

/**
 * A session is accepted only by the app it was issued for: same provider, client and scope
 * (its origin, or `scheme://.domain` for a cookie shared by a parent domain: cookie-domain.ts).
 */
export function sessionBelongs(s: Session, issuer: string, clientId: string, scope: string): boolean {
  return s.identity.iss === issuer && (s.aud === clientId || (s.also?.includes(clientId) ?? false)) && s.or === scope;
}

/** The session granted for one more client id (no change when it already is). */
export function withGrant(s: Session, clientId: string): Session {
  if (s.aud === clientId || s.also?.includes(clientId)) return s;
  return { ...s, also: [...(s.also ?? []), clientId] };
}

/** What the pipeline uses: claims for authorization, the X-Endpoint-API-UserInfo value, a cache key. */
export interface SessionUser {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly payloadSegment: string;
  readonly tokenHash: string;
}

/** Never identity: the cookie's own bookkeeping, or token claims a backend has no use for. */
const NOT_IDENTITY = new Set(['rt', 'rf', 'si', 'or', 'ga', 'sid', 'iat', 'exp', 'nbf', 'aud', 'azp', 'nonce', 'at_hash', 'c_hash', 'sid', 'jti', 'auth_time', 'acr', 'amr']);

/**
 * The identity claims of a verified ID token (plus userinfo claims it lacked): the fixed set,
 * and `extra` names (claims that authorization rules check).
 */
export function identityFrom(claims: Record<string, unknown>, extra: readonly string[] = []): SessionIdentity {
  const out: Record<string, unknown> & { iss: string; sub: string; email?: string; email_verified?: boolean; name?: string; groups?: string[] } = { iss: String(claims.iss), sub: String(claims.sub) };
  for (const k of extra) if (!NOT_IDENTITY.has(k) && !(k in out) && claims[k] !== undefined) out[k] = claims[k];
  if (typeof claims.email === 'string') out.email = claims.email;
  if (claims.email_verified !== undefined) out.email_verified = claims.email_verified === true || claims.email_verified === 'true';
  if (typeof claims.name === 'string') out.name = claims.name;
  const g = claims.groups;
  if (Array.isArray(g)) out.groups = g.filter((x): x is string => typeof x === 'string');
  else if (typeof g === 'string') out.groups = [g];
  return out;
}

export async function sealSession(codec: SealedCookieCodec, s: Session): Promise<string> {
  return codec.seal({ ...s.identity, si: s.iat, rf: s.rf, aud: s.aud, or: s.or, ...(s.rt ? { rt: s.rt } : {}), ...(s.also ? { ga: s.also } : {}) }, s.exp);
}

export async function openSession(codec: SealedCookieCodec, value: string): Promise<Session | undefined> {
  const p = await codec.open(value);
  if (!p || typeof p.sub !== 'string' || typeof p.iss !== 'string' || typeof p.exp !== 'number') return undefined;
  // Sessions sealed before binding existed name no client or origin: they are refused (sign in again).
  if (typeof p.aud !== 'string' || typeof p.or !== 'string' || typeof p.si !== 'number' || typeof p.rf !== 'number') return undefined;
  const also = Array.isArray(p.ga) ? p.ga.filter((x): x is string => typeof x === 'string') : undefined;
  // Everything sealed is ours: keep it all but the bookkeeping.
  return { identity: identityFrom(p, Object.keys(p)), exp: p.exp, iat: p.si, rf: p.rf, aud: p.aud, or: p.or, ...(typeof p.rt === 'string' ? { rt: p.rt } : {}), ...(also ? { also } : {}) };
}

/** The identity with only the groups `keep` names: what still fits a cookie when the full list does not. */
export function withGroups(s: Session, keep: ReadonlySet<string>): Session {
  const groups = s.identity.groups;
  if (!groups) return s;
  return { ...s, identity: { ...s.identity, groups: groups.filter((g) => keep.has(g)) } };
}

/** `handle`: what names this session (the cookie value, or the store's id): a cache key, hashed. */
export function sessionUser(s: Session, handle: string): SessionUser {
  const claims = { ...s.identity, exp: s.exp, iat: s.iat };
  return {
    claims,
    payloadSegment: Buffer.from(JSON.stringify(claims)).toString('base64url'),
    tokenHash: createHash('sha256').update(handle).digest('base64url'),
  };
}

/**
 * The identity after a token response: the ID token's claims (already
 * verified by openid-client), with userinfo filling in email, name and
 * groups when the provider keeps them out of the ID token.
 */
export async function identityOfTokens(
  config: oidc.Configuration,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  extra: readonly string[] = [],
): Promise<SessionIdentity | undefined> {
  const claims = tokens.claims();
  if (!claims) return undefined;
  let merged: Record<string, unknown> = { ...claims };
  if ((claims.email === undefined || claims.groups === undefined) && config.serverMetadata().userinfo_endpoint && tokens.access_token) {
    try {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      // The ID token's claims win; userinfo only fills gaps.
      merged = { ...info, ...claims };
    } catch {
      // The ID token alone still identifies the person.
    }
  }
  return identityFrom(merged, extra);
}
