/**
 * Browser sign-in as the pipeline and the server see it:
 * - `authenticate`: the request's session, if any (refreshed when it nears
 *   its end and a refresh token is held); the gateway's cookies are always
 *   removed from what goes upstream.
 * - `challenge`: no session on a sign-in operation. A browser navigation is
 *   sent to the provider; anything else gets ESP's JSON 401.
 * - `forbidden`: a signed-in browser refused by x-endpoints-authorization
 *   gets a page naming the account and a sign-out link; programs keep the JSON 403.
 * - `routes`: the reserved paths /.endpoints/callback, /.endpoints/sign_out
 *   (a page on GET, acting only on a same-origin POST) and /.endpoints/userinfo.
 *
 * A session lives until the absolute expiry fixed at sign-in (refreshes renew
 * the provider's tokens and the identity inside it, never the expiry), and is
 * accepted only for the issuer, client id and public origin it was issued for
 * (with --signin-cookie-domain: the parent domain, and the further client ids
 * the same person signed in for there; cookie-domain.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import type { SigninScheme } from '../config/types.ts';
import { Errors, GatewayError } from '../errors.ts';
import { createSealedCookieCodec } from './sealed-cookie.ts';
import { clearCookie, cookieName, FLOW_COOKIE, hasOwnedCookie, readCookie, SESSION_COOKIE, setCookie, withoutOwnedCookies } from './cookies.ts';
import { createOriginResolver, type PublicOrigin } from './origin.ts';
import { cookiePlacement, type CookiePlacement } from './cookie-domain.ts';
import { createProviderClients } from './provider.ts';
import { CALLBACK_PATH, createFlowFinisher, FLOW_TTL_S, refreshSession, revokeRefreshToken, safeReturnPath, SIGN_OUT_PATH, startFlow, USERINFO_PATH } from './flow.ts';
import { sessionBelongs, sessionUser, withGrant, type Session, type SessionUser } from './session.ts';
import { configErrorPage, forbiddenPage, pageCsp, PAGE_HEADERS, PageAnswer, redirectAnswer, signinErrorPage, signOutPage, signOutRefusedPage, tooLargePage } from './pages.ts';
import type { SigninSecrets } from './secrets.ts';
import type { SessionLifetime } from './lifetime.ts';
import type { SessionStore } from './session-store.ts';
import { cookieKeeper, storeKeeper, type SessionKeeper } from './keeper.ts';
import { newContext } from '../context.ts';
import type { RefreshSharing } from '../workers/refresh-sharing.ts';
import { assignRequestId, REQUEST_ID_HEADER } from '../observability/request-id.ts';

export const DEFAULT_SESSION_TTL_MS = 12 * 3600_000;

export const SigninMessages = {
  required: 'UNAUTHENTICATED: This method requires a signed-in session (sign in with a browser) or another credential it accepts.',
  storeDown: 'UNAVAILABLE: The session store cannot be reached; try again in a moment.',
} as const;

export interface SigninOptions {
  readonly secrets: SigninSecrets;
  readonly publicUrl?: string | undefined;
  readonly trustedHops: number;
  readonly lifetime: SessionLifetime;
  /** Server-side sessions; undefined: stateless cookies. */
  readonly store?: SessionStore | undefined;
  /** The spec's sign-in scheme now (it changes on a reload). */
  readonly scheme: () => SigninScheme | null | undefined;
  /** Claim names the spec's authorization rules check: kept in the session besides the fixed set. */
  readonly claimNames?: () => readonly string[];
  /** Groups the spec's rules name: what a cookie keeps when all of a person's groups do not fit. */
  readonly ruleGroups?: () => ReadonlySet<string>;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** --signin-cookie-domain (parsed): one session cookie for every origin below it; undefined: one per origin. */
  readonly cookieDomain?: string | undefined;
  /** --workers: refreshes of one session run in one worker at a time, their results shared (src/workers/refresh-sharing.ts). */
  readonly refreshSharing?: RefreshSharing | undefined;
}

export interface SigninRuntime {
  authenticate(req: IncomingMessage, scheme: SigninScheme | null | undefined): Promise<SessionUser | undefined>;
  /** `fallback`: what a program gets instead (default: a 401 asking for a session). */
  challenge(req: IncomingMessage, scheme: SigninScheme, fallback?: GatewayError): Promise<GatewayError>;
  forbidden(req: IncomingMessage, user: Readonly<Record<string, unknown>> | undefined, refusal: GatewayError): GatewayError;
  routes(req: IncomingMessage, res: ServerResponse): boolean;
  /** Releases the session store's connection (none in cookie mode). */
  close(): Promise<void>;
}

/** A top-level browser navigation (never fetch/XHR): the only requests that may see a login page. */
export function isNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  const accept = String(req.headers.accept ?? '').split(',')[0]?.split(';')[0]?.trim().toLowerCase();
  return accept === 'text/html' || accept === 'application/xhtml+xml';
}

/**
 * A request sent by a page of this very origin: the browser's Sec-Fetch-Site
 * says so, or (browsers without it) the Origin of the POST is ours. Neither
 * header: not a browser form on our page, refused.
 */
export function isSameOriginPost(req: IncomingMessage, origin: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  return req.headers.origin === origin;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

interface Current {
  readonly session: Session;
  readonly handle: string;
  /** The cookie's name on this origin. */
  readonly name: string;
  /** Its Domain attribute, when shared by a parent domain. */
  readonly domain: string | undefined;
}

const nowS = () => Math.floor(Date.now() / 1000);

export function createSigninRuntime(opts: SigninOptions): SigninRuntime {
  if (!opts.publicUrl && opts.trustedHops <= 0) {
    throw new Error('the spec uses browser sign-in (x-endpoints-signin): set --public-url to the origin browsers use (e.g. https://app.example.com), or run behind a proxy with --trusted-hops so it can be read from the request');
  }
  const { ttlS, refreshAfterS } = opts.lifetime;
  const sessions = createSealedCookieCodec(opts.secrets.sessionSecrets, 'session');
  const flows = createSealedCookieCodec(opts.secrets.sessionSecrets, 'signin-flow');
  const keeper: SessionKeeper = opts.store
    ? storeKeeper(sessions, createSealedCookieCodec(opts.secrets.sessionSecrets, 'session-record'), opts.store, opts.lifetime.idleS)
    : cookieKeeper(sessions, opts.ruleGroups ?? (() => new Set()));
  const finisher = createFlowFinisher(flows);
  const providers = createProviderClients(opts.secrets.clientSecret);
  const originOf = createOriginResolver(opts.publicUrl, opts.trustedHops);
  const place = cookiePlacement(opts.cookieDomain);
  // Decided here: without a shared domain, reading a session costs what it did before (no placement per request).
  const shared = opts.cookieDomain === undefined ? undefined : place;
  // Requests whose session could not be read because the store was down: a 503, not a sign-in loop.
  const storeDown = new WeakSet<IncomingMessage>();
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

  /** `cookie`: the new cookie value to set, '' when there is none to set. undefined: the session has ended. */
  const refreshed = (scheme: SigninScheme, cur: Current): Promise<{ session: Session; cookie: string } | undefined> => {
    const key = cur.session.rt!;
    let p = refreshes.get(key);
    if (!p) {
      const local = (): Promise<{ session: Session; cookie: string } | undefined> => (async (): Promise<{ session: Session; cookie: string } | undefined> => {
        const config = await providers.get(scheme);
        const next = await refreshSession(config, cur.session, opts.claimNames?.() ?? []);
        const cookie = await keeper.renew(cur.handle, next);
        // Ended meanwhile (signed out, revoked), or no longer fits a cookie: the old one serves until its expiry.
        if (cookie === undefined) return keeper.stored ? undefined : { session: cur.session, cookie: '' };
        return { session: next, cookie };
      })().catch(async (err: Error) => {
        if (err.message === 'revoked') {
          opts.log('info', 'sign-in: the provider refused the refresh token; the session ends', { sub: cur.session.identity.sub });
          await keeper.end(cur.handle).catch(() => undefined);
          return undefined;
        }
        opts.log('warn', 'sign-in: session refresh failed; the session stays valid until it expires', { err: err.message });
        refreshes.delete(key);
        failed = true;
        return { session: cur.session, cookie: '' };
      });
      let failed = false;
      const sharing = opts.refreshSharing;
      p = sharing
        ? (sharing.once(key, async () => ({ value: (await local()) ?? null, share: !failed })) as Promise<{ session: Session; cookie: string } | null>).then((v) => v ?? undefined)
        : local();
      refreshes.set(key, p);
    }
    return p;
  };

  /** The session this request carries for this app, if any; 'unavailable' when the store cannot say. */
  async function current(header: string | string[] | undefined, scheme: SigninScheme, origin: PublicOrigin): Promise<Current | undefined | 'unavailable'> {
    const at = shared?.(origin, SESSION_COOKIE);
    const name = at ? at.name : cookieName(SESSION_COOKIE, origin.https);
    const value = readCookie(header, name);
    if (value === undefined) return undefined;
    const now = nowS();
    const opened = await keeper.open(value, now);
    if (opened === undefined || opened === 'unavailable') return opened;
    const { session, handle } = opened;
    if (session.exp <= now || !sessionBelongs(session, scheme.issuer, scheme.clientId, at ? at.scope : origin.origin)) return undefined;
    return { session, handle, name, domain: at?.domain };
  }

  /**
   * At the callback of a service under a shared cookie domain: the session this browser
   * already holds there for the same provider and the same person, whatever its client.
   */
  async function heldBySamePerson(header: string | string[] | undefined, scheme: SigninScheme, at: CookiePlacement, sub: string): Promise<Current | undefined> {
    if (at.domain === undefined) return undefined;
    const value = readCookie(header, at.name);
    if (value === undefined) return undefined;
    const opened = await keeper.open(value, nowS()).catch(() => undefined);
    if (opened === undefined || opened === 'unavailable') return undefined;
    const { session, handle } = opened;
    if (session.exp <= nowS() || session.or !== at.scope || session.identity.iss !== scheme.issuer || session.identity.sub !== sub) return undefined;
    return { session, handle, name: at.name, domain: at.domain };
  }

  /**
   * Under a shared domain, a host-only session cookie left from before would be sent
   * first (over http both have one name) and shadow the shared one: it is removed.
   */
  function hostOnlyLeft(at: CookiePlacement, origin: PublicOrigin): string[] {
    return at.domain === undefined ? [] : [clearCookie(cookieName(SESSION_COOKIE, origin.https), origin.https)];
  }

  async function authenticate(req: IncomingMessage, scheme: SigninScheme | null | undefined): Promise<SessionUser | undefined> {
    const header = req.headers.cookie;
    if (!hasOwnedCookie(header)) return undefined;
    const stripped = withoutOwnedCookies(header);
    if (stripped === undefined) delete req.headers.cookie;
    else req.headers.cookie = stripped;
    if (!scheme) return undefined;
    const origin = originOf(req);
    if (!origin) return undefined;
    const cur = await current(header, scheme, origin);
    if (cur === 'unavailable') {
      storeDown.add(req);
      return undefined;
    }
    if (!cur) return undefined;
    let session = cur.session;
    const now = nowS();
    // Only the service of the client the refresh token was issued to may use it.
    if (session.rt && session.aud === scheme.clientId && now - session.rf >= refreshAfterS) {
      const r = await refreshed(scheme, cur);
      if (!r) return undefined;
      session = r.session;
      if (r.cookie) {
        // express keeps the response on the request: the new cookie rides on whatever answers.
        const res = (req as IncomingMessage & { res?: ServerResponse }).res;
        res?.appendHeader('set-cookie', setCookie(cur.name, r.cookie, session.exp - now, origin.https, cur.domain));
      }
    }
    return sessionUser(session, cur.handle);
  }

  async function challenge(req: IncomingMessage, scheme: SigninScheme, fallback?: GatewayError): Promise<GatewayError> {
    const method = req.method ?? 'GET';
    if (storeDown.has(req)) {
      return isNavigation(req)
        ? new PageAnswer(503, configErrorPage('Sessions cannot be checked right now. Try again in a moment.'), 'signin_store_unavailable', { 'retry-after': '5' })
        : new GatewayError(503, SigninMessages.storeDown, 'signin_store_unavailable', { 'retry-after': '5' });
    }
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
    return new PageAnswer(403, forbiddenPage(whoOf(user), SIGN_OUT_PATH), refusal.reason);
  }

  function whoOf(user: Readonly<Record<string, unknown>>): string {
    return typeof user.email === 'string' ? user.email : typeof user.name === 'string' ? user.name : String(user.sub ?? 'an unknown account');
  }

  function answer(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}, cookies: string[] = []): void {
    if (cookies.length > 0) res.setHeader('set-cookie', cookies);
    res.writeHead(status, { ...PAGE_HEADERS, ...headers, 'content-length': Buffer.byteLength(html) });
    res.end(res.req.method === 'HEAD' ? undefined : html);
  }

  function json(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  async function callback(req: IncomingMessage, res: ServerResponse, scheme: SigninScheme, origin: PublicOrigin): Promise<void> {
    const flowName = cookieName(FLOW_COOKIE, origin.https);
    const config = await providerOf(scheme);
    if (config instanceof PageAnswer) return answer(res, config.status, config.html);
    const out = await finisher.finish(config as oidc.Configuration, scheme, origin.origin, req.url ?? '/', readCookie(req.headers.cookie, flowName), opts.claimNames?.() ?? []);
    if (!out.ok) {
      opts.log('warn', 'sign-in refused at the callback', { reason: out.reason, requestId: req.gw?.requestId });
      if (req.gw) req.gw.reason = out.reason;
      // Nothing is set; the pending flow (if any) stays until it expires or a new sign-in replaces it.
      return answer(res, 400, signinErrorPage(out.message));
    }
    const now = nowS();
    const at = place(origin, SESSION_COOKIE);
    // Shared cookie domain, same person already signed in for another client: the session gains this one.
    const held = await heldBySamePerson(req.headers.cookie, scheme, at, out.identity.sub);
    if (held) {
      const grown = withGrant(held.session, scheme.clientId);
      const cookie = grown === held.session ? '' : await keeper.renew(held.handle, grown).catch(() => undefined);
      if (cookie !== undefined) {
        if (req.gw) req.gw.endUser = out.identity.sub;
        const cookies = [clearCookie(flowName, origin.https), ...hostOnlyLeft(at, origin)];
        if (cookie) cookies.unshift(setCookie(at.name, cookie, grown.exp - now, origin.https, at.domain));
        return answer(res, 302, redirectAnswer(out.returnTo, 'signin_done').html, { location: out.returnTo }, cookies);
      }
    }
    // The lifetime starts here and ends at `exp`, whatever refreshes follow.
    const session: Session = { identity: out.identity, iat: now, rf: now, exp: now + ttlS, aud: scheme.clientId, or: at.scope, ...(out.rt ? { rt: out.rt } : {}) };
    let issued;
    try {
      issued = await keeper.issue(session);
    } catch (err) {
      opts.log('error', 'sign-in: the session store refused the new session', { err: (err as Error).message, requestId: req.gw?.requestId });
      if (req.gw) req.gw.reason = 'signin_store_unavailable';
      return answer(res, 503, configErrorPage('Sessions cannot be stored right now. Try signing in again in a moment.'), { 'retry-after': '5' });
    }
    if ('tooLarge' in issued) {
      opts.log('warn', 'sign-in: the session does not fit in a cookie even with its groups trimmed to those the rules name; use --session-store', { bytes: issued.tooLarge, requestId: req.gw?.requestId });
      if (req.gw) req.gw.reason = 'signin_session_too_large';
      return answer(res, 400, tooLargePage(), {}, [clearCookie(flowName, origin.https)]);
    }
    if (req.gw) req.gw.endUser = out.identity.sub;
    const r = redirectAnswer(out.returnTo, 'signin_done');
    answer(res, 302, r.html, { location: out.returnTo }, [setCookie(at.name, issued.cookie, ttlS, origin.https, at.domain), clearCookie(flowName, origin.https), ...hostOnlyLeft(at, origin)]);
  }

  async function signOut(req: IncomingMessage, res: ServerResponse, scheme: SigninScheme, origin: PublicOrigin): Promise<void> {
    const action = `${origin.origin}${SIGN_OUT_PATH}`;
    const cur = await current(req.headers.cookie, scheme, origin);
    const config = await providers.get(scheme).catch(() => undefined);
    const endSession = config?.serverMetadata().end_session_endpoint;
    if (req.method !== 'POST') {
      // A link or a typed URL: ask, never act (a GET can come from any site). The form's POST
      // is redirected to the provider's logout: the policy must let the form end up there.
      const csp = pageCsp(endSession ? [new URL(endSession).origin] : []);
      return answer(res, 200, signOutPage(SIGN_OUT_PATH, cur && cur !== 'unavailable' ? whoOf(cur.session.identity) : undefined), { 'content-security-policy': csp });
    }
    if (!isSameOriginPost(req, origin.origin)) {
      if (req.gw) req.gw.reason = 'signout_cross_site';
      return answer(res, 403, signOutRefusedPage(action));
    }
    if (cur === 'unavailable') {
      if (req.gw) req.gw.reason = 'signin_store_unavailable';
      return answer(res, 503, configErrorPage('The session could not be ended right now (the session store cannot be reached). Try again in a moment.'), { 'retry-after': '5' });
    }
    if (cur) {
      await keeper.end(cur.handle);
      // A refresh token is revoked by the client it was issued to.
      const rt = cur.session.aud === scheme.clientId ? cur.session.rt : undefined;
      if (rt) {
        refreshes.delete(rt);
        // Without the refresh token a copied cookie can no longer renew itself anywhere.
        if (config) await revokeRefreshToken(config, rt).catch((err: Error) => opts.log('warn', 'sign-out: the provider did not revoke the refresh token', { err: err.message }));
      }
    }
    const at = place(origin, SESSION_COOKIE);
    // A shared cookie is cleared with its Domain: every service below it is signed out at once.
    const cleared = [clearCookie(at.name, origin.https, at.domain), clearCookie(cookieName(FLOW_COOKIE, origin.https), origin.https), ...hostOnlyLeft(at, origin)];
    const back = `${origin.origin}${safeReturnPath(scheme.postLogoutPath)}`;
    let location = back;
    if (config && endSession) {
      // RP-initiated logout: the provider ends its own session, then sends the browser back here.
      location = oidc.buildEndSessionUrl(config, { client_id: scheme.clientId, post_logout_redirect_uri: back }).href;
    }
    // 303: the browser follows with a GET.
    answer(res, 303, redirectAnswer(location, 'signed_out').html, { location }, cleared);
  }

  /** The person's own identity, for their browser's pages: never cached, never proxied. */
  async function userinfo(req: IncomingMessage, res: ServerResponse, scheme: SigninScheme, origin: PublicOrigin): Promise<void> {
    const cur = await current(req.headers.cookie, scheme, origin);
    if (cur === 'unavailable') return json(res, 503, new GatewayError(503, SigninMessages.storeDown, 'signin_store_unavailable').body(), { 'retry-after': '5' });
    if (!cur) {
      if (req.gw) req.gw.reason = 'signin_required';
      return json(res, 401, new GatewayError(401, SigninMessages.required, 'signin_required').body());
    }
    const { identity, exp, iat } = cur.session;
    const body = {
      ...identity,
      signed_in_at: new Date(iat * 1000).toISOString(),
      expires_at: new Date(exp * 1000).toISOString(),
      session_store: keeper.stored,
    };
    json(res, 200, JSON.stringify(body), { 'x-content-type-options': 'nosniff' });
  }

  function routes(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    if (!url.startsWith('/.endpoints/')) return false;
    const path = pathOf(url);
    if (path !== CALLBACK_PATH && path !== SIGN_OUT_PATH && path !== USERINFO_PATH) return false;
    // Answered before the pipeline: give the request its id here (response header, error lines).
    req.gw ??= newContext();
    req.gw.requestId ||= assignRequestId(req);
    res.setHeader(REQUEST_ID_HEADER, req.gw.requestId);
    const method = req.method ?? 'GET';
    const scheme = opts.scheme();
    const origin = originOf(req);
    const fail = (err: GatewayError) => json(res, err.status, err.body(), { ...(err.headers ?? {}) });
    if (!scheme) {
      fail(Errors.notDefined());
      return true;
    }
    if (!origin) {
      answer(res, 500, configErrorPage('The gateway cannot tell its public address from this request; set --public-url.'));
      return true;
    }
    const allowed = path === SIGN_OUT_PATH ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
    if (!allowed.includes(method)) {
      fail(new GatewayError(405, 'Method Not Allowed', 'method_not_allowed', { allow: allowed.join(', ') }));
      return true;
    }
    const work = path === CALLBACK_PATH ? callback(req, res, scheme, origin) : path === SIGN_OUT_PATH ? signOut(req, res, scheme, origin) : userinfo(req, res, scheme, origin);
    work.catch((err: unknown) => {
      opts.log('error', 'sign-in route failed', { path, err: (err as Error).message, requestId: req.gw?.requestId });
      if (!res.headersSent) answer(res, 500, configErrorPage('Sign-in failed inside the gateway.'));
      else res.destroy();
    });
    return true;
  }

  return { authenticate, challenge, forbidden, routes, close: async () => opts.store?.close() };
}
