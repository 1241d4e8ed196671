/**
 * Browser sign-in as the pipeline and the server see it:
 * - `authenticate`: the request's session, if any (refreshed when it nears
 *   its end and a refresh token is held); the gateway's cookies are always
 *   removed from what goes upstream.
 * - `challenge`: no session on a sign-in operation. A browser navigation is
 *   sent to the provider; anything else gets ESP's JSON 401.
 * - `forbidden`: a signed-in browser refused by x-endpoints-authorization
 *   gets a page naming the account and a sign-out link; programs keep the JSON 403.
 * - `routes`: the reserved paths /.endpoints/callback and /.endpoints/sign_out.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import type { SigninScheme } from '../config/types.ts';
import { Errors, GatewayError } from '../errors.ts';
import { createSealedCookieCodec } from './sealed-cookie.ts';
import { clearCookie, cookieName, FLOW_COOKIE, hasOwnedCookie, readCookie, SESSION_COOKIE, setCookie, withoutOwnedCookies } from './cookies.ts';
import { createOriginResolver, type PublicOrigin } from './origin.ts';
import { createProviderClients } from './provider.ts';
import { CALLBACK_PATH, createFlowFinisher, FLOW_TTL_S, refreshSession, safeReturnPath, SIGN_OUT_PATH, startFlow } from './flow.ts';
import { openSession, sealSession, sessionUser, type Session, type SessionUser } from './session.ts';
import { configErrorPage, forbiddenPage, PAGE_HEADERS, PageAnswer, redirectAnswer, signinErrorPage } from './pages.ts';
import type { SigninSecrets } from './secrets.ts';
import { newContext } from '../context.ts';
import { assignRequestId, REQUEST_ID_HEADER } from '../observability/request-id.ts';

export const DEFAULT_SESSION_TTL_MS = 12 * 3600_000;
/** Cookies above this are dropped by browsers (4096 with the name and attributes). */
const MAX_COOKIE_VALUE = 3900;

export const SigninMessages = {
  required: 'UNAUTHENTICATED: This method requires a signed-in session (sign in with a browser) or another credential it accepts.',
} as const;

export interface SigninOptions {
  readonly secrets: SigninSecrets;
  readonly publicUrl?: string | undefined;
  readonly trustedHops: number;
  readonly sessionTtlMs?: number | undefined;
  /** The spec's sign-in scheme now (it changes on a reload). */
  readonly scheme: () => SigninScheme | null | undefined;
  /** Claim names the spec's authorization rules check: kept in the session besides the fixed set. */
  readonly claimNames?: () => readonly string[];
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface SigninRuntime {
  authenticate(req: IncomingMessage, scheme: SigninScheme | null | undefined): Promise<SessionUser | undefined>;
  /** `fallback`: what a program gets instead (default: a 401 asking for a session). */
  challenge(req: IncomingMessage, scheme: SigninScheme, fallback?: GatewayError): Promise<GatewayError>;
  forbidden(req: IncomingMessage, user: Readonly<Record<string, unknown>> | undefined, refusal: GatewayError): GatewayError;
  routes(req: IncomingMessage, res: ServerResponse): boolean;
}

/** A top-level browser navigation (never fetch/XHR): the only requests that may see a login page. */
export function isNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  const accept = String(req.headers.accept ?? '').split(',')[0]?.split(';')[0]?.trim().toLowerCase();
  return accept === 'text/html' || accept === 'application/xhtml+xml';
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function createSigninRuntime(opts: SigninOptions): SigninRuntime {
  if (!opts.publicUrl && opts.trustedHops <= 0) {
    throw new Error('the spec uses browser sign-in (x-endpoints-signin): set --public-url to the origin browsers use (e.g. https://app.example.com), or run behind a proxy with --trusted-hops so it can be read from the request');
  }
  const ttlS = Math.max(60, Math.floor((opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS) / 1000));
  const sessions = createSealedCookieCodec(opts.secrets.sessionSecrets, 'session');
  const flows = createSealedCookieCodec(opts.secrets.sessionSecrets, 'signin-flow');
  const finisher = createFlowFinisher(flows);
  const providers = createProviderClients(opts.secrets.clientSecret);
  const originOf = createOriginResolver(opts.publicUrl, opts.trustedHops);
  // One refresh per refresh token at a time, and its result reused for requests that
  // still carry the old cookie: providers that rotate refresh tokens treat a second
  // use as theft and end the grant.
  const refreshes = new LRUCache<string, Promise<{ session: Session; cookie: string } | undefined>>({ max: 10_000, ttl: 120_000 });

  const providerOf = async (scheme: SigninScheme): Promise<oidc.Configuration | GatewayError> => {
    try {
      return await providers.get(scheme);
    } catch (err) {
      opts.log('error', 'sign-in: OpenID discovery failed', { issuer: scheme.issuer, err: (err as Error).message });
      return new PageAnswer(502, configErrorPage('The identity provider cannot be reached right now. Try again in a moment.'), 'signin_discovery_failed');
    }
  };

  const refreshed = (scheme: SigninScheme, s: Session): Promise<{ session: Session; cookie: string } | undefined> => {
    const key = s.rt!;
    let p = refreshes.get(key);
    if (!p) {
      p = (async () => {
        const config = await providers.get(scheme);
        const next = await refreshSession(config, s, ttlS, opts.claimNames?.() ?? []);
        const cookie = await sealSession(sessions, next);
        return { session: { ...next, iat: Math.floor(Date.now() / 1000) }, cookie };
      })().catch((err: Error) => {
        if (err.message === 'revoked') {
          opts.log('info', 'sign-in: the provider refused the refresh token; the session ends', { sub: s.identity.sub });
          return undefined;
        }
        opts.log('warn', 'sign-in: session refresh failed; the session stays valid until it expires', { err: err.message });
        refreshes.delete(key);
        return { session: s, cookie: '' };
      });
      refreshes.set(key, p);
    }
    return p;
  };

  async function authenticate(req: IncomingMessage, scheme: SigninScheme | null | undefined): Promise<SessionUser | undefined> {
    const header = req.headers.cookie;
    if (!hasOwnedCookie(header)) return undefined;
    const stripped = withoutOwnedCookies(header);
    if (stripped === undefined) delete req.headers.cookie;
    else req.headers.cookie = stripped;
    if (!scheme) return undefined;
    const origin = originOf(req);
    if (!origin) return undefined;
    const name = cookieName(SESSION_COOKIE, origin.https);
    const value = readCookie(header, name);
    if (value === undefined) return undefined;
    let session = await openSession(sessions, value);
    if (!session || session.identity.iss !== scheme.issuer) return undefined;
    let current = value;
    const now = Math.floor(Date.now() / 1000);
    if (session.rt && session.exp - now < ttlS / 2) {
      const r = await refreshed(scheme, session);
      if (!r) return undefined;
      if (r.cookie) {
        session = r.session;
        current = r.cookie;
        // express keeps the response on the request: the new cookie rides on whatever answers.
        const res = (req as IncomingMessage & { res?: ServerResponse }).res;
        res?.appendHeader('set-cookie', setCookie(name, r.cookie, session.exp - now, origin.https));
      }
    }
    return sessionUser(session, current);
  }

  async function challenge(req: IncomingMessage, scheme: SigninScheme, fallback?: GatewayError): Promise<GatewayError> {
    const method = req.method ?? 'GET';
    if (!isNavigation(req) || (method !== 'GET' && method !== 'HEAD')) return fallback ?? new GatewayError(401, SigninMessages.required, 'signin_required');
    const origin = originOf(req);
    if (!origin) return new PageAnswer(500, configErrorPage('The gateway cannot tell its public address from this request; set --public-url.'), 'signin_no_origin');
    const config = await providerOf(scheme);
    if (config instanceof GatewayError) return config;
    // req.url is still what the browser asked for: path translation comes later.
    const start = await startFlow(config, scheme, origin.origin, safeReturnPath(req.url ?? '/'), flows);
    return redirectAnswer(start.location, 'signin_redirect', setCookie(cookieName(FLOW_COOKIE, origin.https), start.flowCookie, FLOW_TTL_S, origin.https));
  }

  function forbidden(req: IncomingMessage, user: Readonly<Record<string, unknown>> | undefined, refusal: GatewayError): GatewayError {
    if (!user || !isNavigation(req)) return refusal;
    const who = typeof user.email === 'string' ? user.email : typeof user.name === 'string' ? user.name : String(user.sub ?? 'an unknown account');
    return new PageAnswer(403, forbiddenPage(who, SIGN_OUT_PATH), refusal.reason);
  }

  function answer(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}, cookies: string[] = []): void {
    if (cookies.length > 0) res.setHeader('set-cookie', cookies);
    res.writeHead(status, { ...PAGE_HEADERS, ...headers, 'content-length': Buffer.byteLength(html) });
    res.end(res.req.method === 'HEAD' ? undefined : html);
  }

  async function callback(req: IncomingMessage, res: ServerResponse, scheme: SigninScheme, origin: PublicOrigin): Promise<void> {
    const flowName = cookieName(FLOW_COOKIE, origin.https);
    const config = await providerOf(scheme);
    if (config instanceof PageAnswer) return answer(res, config.status, config.html);
    const out = await finisher.finish(config as oidc.Configuration, scheme, origin.origin, req.url ?? '/', readCookie(req.headers.cookie, flowName), ttlS, opts.claimNames?.() ?? []);
    if (!out.ok) {
      opts.log('warn', 'sign-in refused at the callback', { reason: out.reason, requestId: req.gw?.requestId });
      if (req.gw) req.gw.reason = out.reason;
      // Nothing is set; the pending flow (if any) stays until it expires or a new sign-in replaces it.
      return answer(res, 400, signinErrorPage(out.message));
    }
    const cookie = await sealSession(sessions, out.session);
    if (cookie.length > MAX_COOKIE_VALUE) {
      opts.log('error', 'sign-in: the session does not fit in a cookie (too many groups?)', { bytes: cookie.length, requestId: req.gw?.requestId });
      return answer(res, 500, configErrorPage('Your account has too many groups to fit in a session cookie.'));
    }
    const now = Math.floor(Date.now() / 1000);
    if (req.gw) req.gw.endUser = out.session.identity.sub;
    const r = redirectAnswer(out.returnTo, 'signin_done');
    answer(res, 302, r.html, { location: out.returnTo }, [
      setCookie(cookieName(SESSION_COOKIE, origin.https), cookie, out.session.exp - now, origin.https),
      clearCookie(flowName, origin.https),
    ]);
  }

  async function signOut(res: ServerResponse, scheme: SigninScheme, origin: PublicOrigin): Promise<void> {
    const cleared = [clearCookie(cookieName(SESSION_COOKIE, origin.https), origin.https), clearCookie(cookieName(FLOW_COOKIE, origin.https), origin.https)];
    const back = `${origin.origin}${safeReturnPath(scheme.postLogoutPath)}`;
    let location = back;
    const config = await providers.get(scheme).catch(() => undefined);
    if (config?.serverMetadata().end_session_endpoint) {
      // RP-initiated logout: the provider ends its own session, then sends the browser back here.
      location = oidc.buildEndSessionUrl(config, { client_id: scheme.clientId, post_logout_redirect_uri: back }).href;
    }
    answer(res, 302, redirectAnswer(location, 'signed_out').html, { location }, cleared);
  }

  function routes(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    if (!url.startsWith('/.endpoints/')) return false;
    const path = pathOf(url);
    if (path !== CALLBACK_PATH && path !== SIGN_OUT_PATH) return false;
    // Answered before the pipeline: give the request its id here (response header, error lines).
    req.gw ??= newContext();
    req.gw.requestId ||= assignRequestId(req);
    res.setHeader(REQUEST_ID_HEADER, req.gw.requestId);
    const method = req.method ?? 'GET';
    const scheme = opts.scheme();
    const origin = originOf(req);
    const fail = (err: GatewayError) => {
      const body = err.body();
      res.writeHead(err.status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...(err.headers ?? {}) });
      res.end(body);
    };
    if (!scheme) {
      fail(Errors.notDefined());
      return true;
    }
    if (!origin) {
      answer(res, 500, configErrorPage('The gateway cannot tell its public address from this request; set --public-url.'));
      return true;
    }
    const allowed = path === CALLBACK_PATH ? ['GET', 'HEAD'] : ['GET', 'HEAD', 'POST'];
    if (!allowed.includes(method)) {
      fail(new GatewayError(405, 'Method Not Allowed', 'method_not_allowed', { allow: allowed.join(', ') }));
      return true;
    }
    const work = path === CALLBACK_PATH ? callback(req, res, scheme, origin) : signOut(res, scheme, origin);
    work.catch((err: unknown) => {
      opts.log('error', 'sign-in route failed', { path, err: (err as Error).message, requestId: req.gw?.requestId });
      if (!res.headersSent) answer(res, 500, configErrorPage('Sign-in failed inside the gateway.'));
      else res.destroy();
    });
    return true;
  }

  return { authenticate, challenge, forbidden, routes };
}
