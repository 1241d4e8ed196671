/**
 * The gateway's own routes, in one ordered table, matched on the normalized
 * path (ctx.path) before anything can reach the chain or the proxy: an
 * encoded variant (`/%68ealthz`, `/.endpoints/sign%5Fout`, `/%64ocs/…`) is the
 * same route as its plain form, never a backend's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../context.ts';
import { Errors, type GatewayError } from '../errors.ts';
import { sendError, sendJson } from './answer.ts';

export interface LocalRoute {
  readonly name: string;
  /** Why it stands where it does. */
  readonly why: string;
  /** On the normalized path (no query) and the method. */
  matches(path: string, method: string): boolean;
  /** Answers the request itself (req.url then holds the normalized path and the query); false: not its request after all. */
  answer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean;
}

/** Everything under this prefix is the gateway's (sign-in today), with or without sign-in configured. */
export const RESERVED_PREFIX = '/.endpoints/';

export interface FrontDoorParts {
  readonly ready: () => { ready: boolean; why: string };
  /** Public keys of the gateway's identity assertions (no key needed). */
  readonly jwks: { readonly path: string; readonly body: string } | undefined;
  /** --docs-path: the docs page and its sanitized spec. */
  readonly docs: { readonly path: string; handle(req: IncomingMessage, res: ServerResponse): boolean } | undefined;
  /** Sign-in's reserved routes (callback, sign-out, userinfo); true when answered. */
  readonly signin: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  /** --cors-preset: answers preflights; true when answered. */
  readonly cors: { answer(req: IncomingMessage, res: ServerResponse): boolean } | undefined;
  /** --forward-auth serving: /.endpoints/auth (src/http/forward-auth.ts); undefined: off, the path stays reserved. */
  readonly forwardAuth?: { matches(path: string): boolean; answer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean } | undefined;
}

const isRead = (method: string): boolean => method === 'GET' || method === 'HEAD';
const NO_STORE = { 'cache-control': 'no-store' } as const;

/** Another method on a gateway path: ESPv2's 405 naming it (deny_invalid_method_test), never the spec's routes. */
function notRead(res: ServerResponse, ctx: RequestContext, path: string): true {
  sendError(res, ctx, Errors.methodNotAllowed(path));
  return true;
}

export function createFrontDoor(p: FrontDoorParts): readonly LocalRoute[] {
  const routes: LocalRoute[] = [
    {
      name: 'healthz',
      why: 'first and cheapest: liveness must answer whatever the spec or the backends do',
      matches: (path) => path === '/healthz',
      answer(req, res, ctx) {
        if (!isRead(req.method ?? 'GET')) return notRead(res, ctx, '/healthz');
        sendJson(res, 200, '{"status":"ok"}', NO_STORE);
        return true;
      },
    },
    {
      name: 'readyz',
      why: "readiness is the gateway's own state, never a backend's",
      matches: (path) => path === '/readyz',
      answer(req, res, ctx) {
        if (!isRead(req.method ?? 'GET')) return notRead(res, ctx, '/readyz');
        const r = p.ready();
        sendJson(res, r.ready ? 200 : 503, JSON.stringify(r.ready ? { status: 'ready' } : { code: 503, message: `not ready: ${r.why}` }), NO_STORE);
        return true;
      },
    },
  ];
  const jwks = p.jwks;
  if (jwks) {
    routes.push({
      name: 'jwks',
      why: 'backends fetch these keys to verify the assertion without any credential of their own',
      matches: (path) => path === jwks.path,
      answer(req, res) {
        if (isRead(req.method ?? 'GET')) sendJson(res, 200, jwks.body, { 'cache-control': 'public, max-age=300' });
        else sendJson(res, 405, '{"code":405,"message":"Method Not Allowed"}', { allow: 'GET, HEAD' });
        return true;
      },
    });
  }
  const docs = p.docs;
  if (docs) {
    routes.push({
      name: 'docs',
      why: 'the docs page serves the spec itself; the spec may not collide with it (refused at load)',
      matches: (path) => path === docs.path || path.startsWith(`${docs.path}/`),
      answer: (req, res) => docs.handle(req, res),
    });
  }
  const forwardAuth = p.forwardAuth;
  if (forwardAuth) {
    routes.push({
      name: 'forwardAuth',
      why: 'inside the reserved prefix, before it: a proxy asks about another request, which the chain then checks',
      matches: (path) => forwardAuth.matches(path),
      answer: (req, res, ctx) => forwardAuth.answer(req, res, ctx),
    });
  }
  const signin = p.signin;
  routes.push({
    name: 'reserved',
    why: 'sign-in routes; the rest of the prefix is refused, so a backend route there is never shadowed later',
    matches: (path) => path.startsWith(RESERVED_PREFIX),
    answer(req, res, ctx) {
      if (!signin?.(req, res)) sendError(res, ctx, Errors.notDefined());
      return true;
    },
  });
  const cors = p.cors;
  if (cors) {
    routes.unshift({
      name: 'corsPreflight',
      // Not every OPTIONS is a preflight: the others go on to the spec's OPTIONS operations.
      why: 'first, as ESPv2 puts its CORS filter before the health check: a preflight needs no key and never reaches a backend',
      matches: (_path, method) => method === 'OPTIONS',
      answer: (req, res) => cors.answer(req, res),
    });
  }
  return Object.freeze(routes);
}

/**
 * Answers from the table when a route matches; false: the request goes on to the chain.
 * req.url becomes the normalized path (plus the query) for the route's own handler.
 */
export function answerLocally(routes: readonly LocalRoute[], req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean {
  const path = ctx.path;
  if (path === null) return false;
  const method = req.method ?? 'GET';
  for (const r of routes) {
    if (!r.matches(path, method)) continue;
    const asked = req.url;
    req.url = ctx.rawQuery === undefined ? path : `${path}?${ctx.rawQuery}`;
    if (r.answer(req, res, ctx)) return true;
    req.url = asked;
  }
  return false;
}

/** For upgrades: a gateway path is never tunnelled to a backend. */
export function ownedPath(routes: readonly LocalRoute[], path: string | null): GatewayError | undefined {
  if (path === null) return undefined;
  for (const r of routes) if (r.matches(path, 'GET')) return Errors.notDefined();
  return undefined;
}
