/**
 * The `x-endpoints-signin` block of an oauth2 accessCode security definition:
 * compiled into a SigninScheme, and checked by `validate` with located
 * messages. Secrets never come from the spec (see secrets.ts).
 */
import type { SigninScheme } from '../config/types.ts';
import { arr, isObject, obj, type Json } from '../config/openapi.ts';
import { shown, where, type SpecProblem } from '../config/problems.ts';

export const DEFAULT_SCOPES: readonly string[] = Object.freeze(['openid', 'email', 'profile']);

export function compileSigninScheme(name: string, def: Json): SigninScheme {
  const block = obj(def['x-endpoints-signin']);
  const scopes = arr(block.scopes).filter((s): s is string => typeof s === 'string');
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(block.authorization_params))) if (typeof v === 'string') params[k] = v;
  return {
    kind: 'signin',
    name,
    issuer: String(def['x-google-issuer'] ?? ''),
    authorizationUrl: String(def.authorizationUrl ?? ''),
    tokenUrl: String(def.tokenUrl ?? ''),
    clientId: String(block.client_id ?? ''),
    scopes: scopes.length > 0 ? scopes : DEFAULT_SCOPES,
    authorizationParams: params,
    postLogoutPath: typeof block.post_logout_path === 'string' ? block.post_logout_path : '/',
  };
}

/** Loopback hosts may be served over plain http (local providers, tests). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** Why `url` may not name a provider endpoint, or undefined when it may: https, or http on loopback. */
export function providerUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string' || url === '') return 'is missing';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `is not a URL (got ${shown(url)})`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return undefined;
  return `must be an https:// URL (plain http only on a loopback address), got ${shown(url)}`;
}

/** A same-origin path: one leading `/`, never `//` or `/\` (those leave the origin). */
export function isLocalPath(p: string): boolean {
  return p.startsWith('/') && !p.startsWith('//') && !p.startsWith('/\\') && !/[\u0000-\u001f\u007f\\]/.test(p);
}

const KNOWN = new Set(['client_id', 'scopes', 'authorization_params', 'post_logout_path']);

/**
 * Problems with the spec's sign-in schemes: the block's fields, the oauth2
 * fields it relies on, and at most one sign-in scheme per spec (one callback,
 * one session cookie).
 */
export function signinProblems(defs: Json): SpecProblem[] {
  const out: SpecProblem[] = [];
  const names: string[] = [];
  for (const [name, raw] of Object.entries(defs)) {
    if (!isObject(raw) || raw['x-endpoints-signin'] === undefined) continue;
    names.push(name);
    const at = ['securityDefinitions', name];
    const block = raw['x-endpoints-signin'];
    if (raw.type !== 'oauth2') out.push({ where: where(...at, 'type'), message: `must be oauth2 for x-endpoints-signin (got ${shown(raw.type)})` });
    if (raw.flow !== 'accessCode') out.push({ where: where(...at, 'flow'), message: `must be accessCode for x-endpoints-signin: browsers sign in with the authorization code flow (got ${shown(raw.flow)})` });
    const issuer = providerUrlProblem(raw['x-google-issuer']);
    if (issuer) out.push({ where: where(...at, 'x-google-issuer'), message: `${issuer}: OpenID discovery starts there` });
    for (const f of ['authorizationUrl', 'tokenUrl'] as const) {
      const p = providerUrlProblem(raw[f]);
      if (p) out.push({ where: where(...at, f), message: p });
    }
    if (!isObject(block)) {
      out.push({ where: where(...at, 'x-endpoints-signin'), message: 'must be an object with at least client_id' });
      continue;
    }
    const bat = [...at, 'x-endpoints-signin'];
    for (const k of Object.keys(block)) {
      if (!KNOWN.has(k) && !k.startsWith('x-')) {
        out.push({ where: where(...bat, k), message: `is not a field of x-endpoints-signin (known: ${[...KNOWN].join(', ')}); secrets never go in the spec: use $ENDPOINTS_SIGNIN_CLIENT_SECRET or --signin-client-secret-file` });
      }
    }
    if (typeof block.client_id !== 'string' || block.client_id === '') out.push({ where: where(...bat, 'client_id'), message: 'is missing: the OAuth client id registered with the provider' });
    if (block.scopes !== undefined) {
      const s = block.scopes;
      if (!Array.isArray(s) || s.some((v) => typeof v !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(v))) {
        out.push({ where: where(...bat, 'scopes'), message: 'must be a list of scope names' });
      } else if (!s.includes('openid')) {
        out.push({ where: where(...bat, 'scopes'), message: 'must include openid: sign-in needs an ID token' });
      }
    }
    if (block.authorization_params !== undefined) {
      const p = block.authorization_params;
      const reserved = new Set(['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method']);
      if (!isObject(p) || Object.values(p).some((v) => typeof v !== 'string')) {
        out.push({ where: where(...bat, 'authorization_params'), message: 'must map parameter names to strings' });
      } else {
        for (const k of Object.keys(p)) if (reserved.has(k)) out.push({ where: where(...bat, 'authorization_params', k), message: 'is set by the gateway itself' });
      }
    }
    if (block.post_logout_path !== undefined && (typeof block.post_logout_path !== 'string' || !isLocalPath(block.post_logout_path))) {
      out.push({ where: where(...bat, 'post_logout_path'), message: `must be a path on the gateway's own origin, starting with a single / (got ${shown(block.post_logout_path)})` });
    }
  }
  if (names.length > 1) {
    out.push({ where: where('securityDefinitions', names[1]!, 'x-endpoints-signin'), message: `is the second sign-in scheme (after "${names[0]}"); a gateway has one sign-in callback and session, so define one` });
  }
  return out;
}
