/**
 * The authorization code flow with PKCE (S256), state and nonce, all bound
 * to a short-lived sealed cookie: the browser that started a sign-in is the
 * only one that can finish it, once, within FLOW_TTL_S.
 */
import * as oidc from 'openid-client';
import { LRUCache } from 'lru-cache';
import type { SigninScheme } from '../config/types.ts';
import type { SealedCookieCodec } from './sealed-cookie.ts';
import { identityOfTokens, type Session, type SessionIdentity } from './session.ts';
import { isLocalPath } from './config.ts';

export const CALLBACK_PATH = '/.endpoints/callback';
export const SIGN_OUT_PATH = '/.endpoints/sign_out';
export const USERINFO_PATH = '/.endpoints/userinfo';
export const FLOW_TTL_S = 600;

export interface FlowStart {
  /** The provider's authorization URL, with every parameter. */
  readonly location: string;
  /** The sealed flow cookie value. */
  readonly flowCookie: string;
}

/** Where to go after signing in: the path first asked for, when it stays on this origin; else `/`. */
export function safeReturnPath(url: string): string {
  return isLocalPath(url) && url.length <= 2048 ? url : '/';
}

export async function startFlow(config: oidc.Configuration, scheme: SigninScheme, origin: string, returnTo: string, codec: SealedCookieCodec): Promise<FlowStart> {
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const verifier = oidc.randomPKCECodeVerifier();
  const params: Record<string, string> = {
    ...scheme.authorizationParams,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    scope: scheme.scopes.join(' '),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  // OpenID Connect grants offline_access only with a consent prompt.
  if (scheme.scopes.includes('offline_access') && params.prompt === undefined) params.prompt = 'consent';
  const location = oidc.buildAuthorizationUrl(config, params).href;
  const flowCookie = await codec.seal({ st: state, no: nonce, cv: verifier, rt: safeReturnPath(returnTo), or: origin, sc: scheme.name }, Math.floor(Date.now() / 1000) + FLOW_TTL_S);
  return { location, flowCookie };
}

export type FlowOutcome =
  | { readonly ok: true; readonly identity: SessionIdentity; readonly rt: string | undefined; readonly returnTo: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

const fail = (reason: string, message: string): FlowOutcome => ({ ok: false, reason, message });

export interface FlowFinisher {
  finish(config: oidc.Configuration, scheme: SigninScheme, origin: string, requestUrl: string, flowCookie: string | undefined, extra: readonly string[]): Promise<FlowOutcome>;
}

export function createFlowFinisher(codec: SealedCookieCodec): FlowFinisher {
  // States already used here: a replayed callback is refused before the provider is asked
  // (the provider refuses a reused code too, which covers other instances).
  const used = new LRUCache<string, true>({ max: 50_000, ttl: FLOW_TTL_S * 1000 });
  return {
    async finish(config, scheme, origin, requestUrl, flowCookie, extra) {
      const url = new URL(requestUrl, origin);
      const flow = flowCookie === undefined ? undefined : await codec.open(flowCookie);
      if (!flow || typeof flow.st !== 'string' || typeof flow.cv !== 'string' || typeof flow.no !== 'string') {
        return fail('signin_no_flow', 'This sign-in has expired or was already completed (no pending sign-in was found in this browser).');
      }
      if (flow.or !== origin || flow.sc !== scheme.name) return fail('signin_flow_mismatch', 'This sign-in was started for another site.');
      const state = url.searchParams.get('state');
      if (state !== flow.st) return fail('signin_state_mismatch', 'The sign-in response does not belong to the sign-in this browser started (state mismatch).');
      if (used.has(flow.st)) return fail('signin_replayed', 'This sign-in response was already used.');
      used.set(flow.st, true);
      const error = url.searchParams.get('error');
      if (error !== null) return fail('signin_provider_error', `The identity provider refused the sign-in (${error.slice(0, 100)}).`);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: flow.cv,
          expectedState: flow.st,
          expectedNonce: flow.no,
          idTokenExpected: true,
        });
      } catch (err) {
        const code = (err as { error?: unknown; code?: unknown }).error ?? (err as { code?: unknown }).code;
        return fail('signin_exchange_failed', `The sign-in could not be completed${typeof code === 'string' ? ` (${code.slice(0, 100)})` : ''}.`);
      }
      const identity = await identityOfTokens(config, tokens, extra);
      if (!identity) return fail('signin_no_id_token', 'The identity provider sent no ID token.');
      return {
        ok: true,
        identity,
        rt: tokens.refresh_token,
        returnTo: typeof flow.rt === 'string' ? safeReturnPath(flow.rt) : '/',
      };
    },
  };
}

/**
 * The session with the provider's tokens renewed: new claims when the
 * provider sends a new ID token (group changes show up), else the old ones.
 * Its expiry stays: a refresh never lengthens a session.
 * Throws `revoked` when the provider refuses the token: the session ends.
 */
export async function refreshSession(config: oidc.Configuration, s: Session, extra: readonly string[]): Promise<Session> {
  let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
  try {
    tokens = await oidc.refreshTokenGrant(config, s.rt!);
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError) throw new Error('revoked');
    throw err;
  }
  const fresh = tokens.id_token ? await identityOfTokens(config, tokens, extra).catch(() => undefined) : undefined;
  const identity = fresh && fresh.sub === s.identity.sub ? fresh : s.identity;
  return { ...s, identity, rf: Math.floor(Date.now() / 1000), rt: tokens.refresh_token ?? s.rt! };
}

/**
 * Tells the provider the refresh token is no longer wanted (RFC 7009), where
 * it publishes a revocation endpoint. Best effort: sign-out goes on either way.
 */
export async function revokeRefreshToken(config: oidc.Configuration, rt: string): Promise<boolean> {
  if (!config.serverMetadata().revocation_endpoint) return false;
  await oidc.tokenRevocation(config, rt, { token_type_hint: 'refresh_token' });
  return true;
}
