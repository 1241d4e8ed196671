/**
 * Forward-auth (`/.endpoints/auth`): the gateway's whole check chain for a
 * request another proxy holds (nginx `auth_request`, Traefik ForwardAuth,
 * Envoy's HTTP `ext_authz`). The proxy says which request in
 * X-Forwarded-Method, X-Forwarded-Host and X-Forwarded-Uri (or
 * X-Original-URL, or, as Envoy sends it, the original path after
 * `/.endpoints/auth`); the answer is 200 with the headers the proxy copies
 * upstream, or the refusal exactly as the gateway gives it. Those X-Forwarded
 * headers are trusted here and nowhere else: this endpoint exists to be told
 * about another request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../context.ts';
import { newContext } from '../context.ts';
import { Errors, GatewayError } from '../errors.ts';
import type { Stage } from '../chain/stage.ts';
import { runChain } from '../chain/runner.ts';
import { normalizePath } from '../routing/normalize.ts';
import { assignRequestId, REQUEST_ID_HEADER } from '../observability/request-id.ts';
import type { Logger } from '../observability/logger.ts';
import type { Snapshot } from '../runtime/snapshot.ts';
import { ASSERTION_HEADER } from '../auth/assertion.ts';
import { sendError, sendLocal, type Headers } from './answer.ts';
import type { Recorder } from './record.ts';

export const FORWARD_AUTH_PATH = '/.endpoints/auth';

/** --forward-auth: which listener answers it. */
export type ForwardAuthPlace = 'serving' | 'admin';

/** Stages that only make sense for a request the gateway forwards itself: the body contract (an auth check carries no body), the backend's path. */
const NOT_IN_FORWARD_AUTH: ReadonlySet<string> = new Set(['validateRequest', 'pathRewrite']);
/** Stages that mint credentials for the spec's backend: answered only on the admin port, never to a caller who could replay them to the backend directly. */
const BACKEND_CREDENTIALS: ReadonlySet<string> = new Set(['assertion', 'backendAuth']);

/** The identity the gateway establishes, as the backend would get it. */
const IDENTITY_HEADERS = ['x-endpoint-api-userinfo', 'x-endpoint-api-consumer-type', 'x-endpoint-api-consumer-number'] as const;

/** ESP's text of a refusal as a header too: nginx's auth_request drops the body, and auth_request_set can copy a header. */
export const ERROR_HEADER = 'x-endpoints-error';

export interface ForwardAuthParts {
  /**
   * The service that answers for the original host (several services: chosen by host, as the serving
   * port chooses): its request chain (src/chain/chain.ts), which forward-auth runs up to, not including,
   * forwarding, and its snapshot in force. undefined: no service for that host (ESP's 404).
   */
  readonly select: (host: string | undefined) => { readonly stages: readonly Stage[]; readonly snapshot: Snapshot } | undefined;
  /** On the admin port (private): the assertion and the backend's ID token are answered too. */
  readonly place: ForwardAuthPlace;
  readonly logger: Logger;
  /** Records the admin listener's exchanges (the serving port's handler records its own). */
  readonly record: Recorder;
}

export interface ForwardAuth {
  /** For the serving port's front door: the context exists already. */
  answer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean;
  /** For the admin listener, which has no front door: makes the context, then answers. */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

function one(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/** An HTTP method token (RFC 9110). */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** Escapes what a header line cannot carry (beyond ASCII) so ESP's JSON text survives as a header value. */
function asciiJson(body: string): string {
  return body.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface Original {
  readonly method: string;
  readonly host: string | undefined;
  readonly uri: string;
}

/** The request the proxy asks about; a GatewayError when it did not say clearly. */
function originalOf(req: IncomingMessage, askedPath: string): Original | GatewayError {
  const h = req.headers;
  const method = one(h['x-forwarded-method'])?.toUpperCase() ?? req.method ?? 'GET';
  if (!METHOD.test(method)) return Errors.badRequest('forward-auth: X-Forwarded-Method is not an HTTP method');
  let host = one(h['x-forwarded-host']);
  let uri = one(h['x-forwarded-uri']);
  if (uri === undefined) {
    const original = one(h['x-original-url']);
    if (original !== undefined && original.startsWith('/')) uri = original;
    else if (original !== undefined) {
      // nginx setups often send the absolute URL ($scheme://$http_host$request_uri).
      let url: URL;
      try {
        url = new URL(original);
      } catch {
        return Errors.badRequest('forward-auth: X-Original-URL is neither a path nor an absolute URL');
      }
      uri = `${url.pathname}${url.search}`;
      host ??= url.host;
    }
  }
  // Envoy's ext_authz appends the original path to the one configured (path_prefix).
  if (uri === undefined && askedPath.length > FORWARD_AUTH_PATH.length) {
    const q = (req.url ?? '').indexOf('?');
    uri = askedPath.slice(FORWARD_AUTH_PATH.length) + (q < 0 ? '' : (req.url ?? '').slice(q));
  }
  if (uri === undefined) return Errors.badRequest('forward-auth: the original request is missing: send X-Forwarded-Uri (or X-Original-URL) and X-Forwarded-Method');
  if (!uri.startsWith('/')) return Errors.badRequest('forward-auth: X-Forwarded-Uri must be an origin-form URI starting with /');
  // Over HTTP/2 the request's own host is :authority.
  return { method, host: host ?? one(h.host) ?? one(h[':authority'] as string | undefined), uri };
}

/** Makes this request the original one: the chain then checks it exactly as if it had come to the serving port. */
function become(req: IncomingMessage, ctx: RequestContext, o: Original, snapshot: Snapshot): void {
  const h = req.headers;
  delete h['x-forwarded-method'];
  delete h['x-forwarded-uri'];
  delete h['x-original-url'];
  req.method = o.method;
  req.url = o.uri;
  if (o.host !== undefined) h.host = o.host;
  ctx.snapshot = snapshot;
  ctx.url = o.uri;
  const q = o.uri.indexOf('?');
  ctx.rawQuery = q < 0 ? undefined : o.uri.slice(q + 1);
  ctx.path = normalizePath(q < 0 ? o.uri : o.uri.slice(0, q));
}

export function createForwardAuth(p: ForwardAuthParts): ForwardAuth {
  const credentials = p.place === 'admin';
  // Each service's chain, filtered once.
  const filtered = new WeakMap<readonly Stage[], readonly Stage[]>();
  const stagesOf = (all: readonly Stage[]): readonly Stage[] => {
    let s = filtered.get(all);
    if (s === undefined) {
      s = all.filter((st) => !NOT_IN_FORWARD_AUTH.has(st.name) && (credentials || !BACKEND_CREDENTIALS.has(st.name)));
      filtered.set(all, s);
    }
    return s;
  };

  /** The headers the proxy copies upstream: what the chain set on this request for the backend. */
  function admitted(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, callerAuth: string | undefined): void {
    const h = req.headers;
    const out: Headers = { 'cache-control': 'no-store' };
    for (const name of IDENTITY_HEADERS) {
      const v = h[name];
      if (typeof v === 'string') out[name] = v;
    }
    const ch = ctx.op?.claimHeaders;
    if (ch) for (const name of ch.strip) if (typeof h[name] === 'string') out[name] = h[name];
    if (credentials) {
      const assertion = h[ASSERTION_HEADER];
      if (typeof assertion === 'string') out[ASSERTION_HEADER] = assertion;
      const serverless = h['x-serverless-authorization'];
      if (typeof serverless === 'string') out['x-serverless-authorization'] = serverless;
      else if (h.authorization !== undefined && h.authorization !== callerAuth) out.authorization = h.authorization;
    }
    sendLocal(res, 200, out, '');
  }

  function refused(res: ServerResponse, ctx: RequestContext, err: GatewayError): void {
    // ESP's JSON only: a sign-in page or redirect has its own headers (Location, Set-Cookie) for the proxy to copy.
    if (err.headers?.['content-type'] === undefined && !res.headersSent) res.setHeader(ERROR_HEADER, asciiJson(err.body()));
    sendError(res, ctx, err);
  }

  function fail(res: ServerResponse, ctx: RequestContext, err: unknown): void {
    p.logger.error({ err, operation: ctx.op?.id, requestId: ctx.requestId }, 'internal error in forward-auth');
    refused(res, ctx, Errors.internal());
  }

  function answer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean {
    const o = originalOf(req, ctx.path ?? FORWARD_AUTH_PATH);
    if (o instanceof GatewayError) {
      refused(res, ctx, o);
      return true;
    }
    const callerAuth = one(req.headers.authorization);
    let verdict;
    try {
      const chosen = p.select(o.host);
      if (chosen === undefined) {
        refused(res, ctx, Errors.notDefined());
        return true;
      }
      become(req, ctx, o, chosen.snapshot);
      verdict = runChain(stagesOf(chosen.stages), req, ctx);
    } catch (err) {
      fail(res, ctx, err);
      return true;
    }
    const settle = (v: GatewayError | undefined) => (v === undefined ? admitted(req, res, ctx, callerAuth) : refused(res, ctx, v));
    if (verdict === undefined || verdict instanceof GatewayError) settle(verdict);
    else verdict.then(settle, (err: unknown) => fail(res, ctx, err));
    return true;
  }

  return {
    answer,
    handle(req, res) {
      const ctx = newContext(req);
      req.gw = ctx;
      // Sign-in's session refresh sets its cookie on whatever answers the request.
      (req as IncomingMessage & { res?: ServerResponse }).res = res;
      ctx.requestId = assignRequestId(req);
      res.setHeader(REQUEST_ID_HEADER, ctx.requestId);
      p.record.track(res);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      ctx.path = normalizePath(q < 0 ? url : url.slice(0, q));
      answer(req, res, ctx);
    },
  };
}

/** Whether a normalized path is forward-auth's (Envoy appends the original path to it). */
export function isForwardAuthPath(path: string | null): boolean {
  return path !== null && (path === FORWARD_AUTH_PATH || path.startsWith(`${FORWARD_AUTH_PATH}/`));
}

/** The admin listener with forward-auth in front of its own routes (--forward-auth admin); the handler unchanged when off. */
export function withForwardAuth(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  forwardAuth: ForwardAuth | undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (!forwardAuth) return handler;
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if (isForwardAuthPath(normalizePath(q < 0 ? url : url.slice(0, q)))) forwardAuth.handle(req, res);
    else handler(req, res);
  };
}

/**
 * Forward-auth as `serve` wires it: the route every front door of the serving port answers
 * (--forward-auth serving) exists before the services do, and the checker, which picks the service
 * of the original host, is bound once they exist; on the admin listener it wraps the admin handler.
 */
export function forwardAuthWiring(place: ForwardAuthPlace | undefined) {
  let bound: ForwardAuth | undefined;
  const route = place === 'serving' ? { matches: isForwardAuthPath, answer: (...a: Parameters<ForwardAuth['answer']>) => bound!.answer(...a) } : undefined;
  return {
    route,
    bind(p: Omit<ForwardAuthParts, 'place'>): void {
      if (place !== undefined) bound = createForwardAuth({ ...p, place });
    },
    admin(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
      return withForwardAuth(handler, place === 'admin' ? bound : undefined);
    },
  };
}
