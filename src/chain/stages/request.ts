/** The stages that read the request itself: its path, its method, its route, its headers. */
import { Errors } from '../../errors.ts';
import { parseOperationMethod } from '../../routing/methods.ts';
import { dropHopByHop } from '../../backend/hop-by-hop.ts';
import type { StageParts, StageRun } from '../stage.ts';

/** The longest path ESPv2 accepts (path_rewrite filter). */
const MAX_PATH = 8192;

/**
 * Headers only the gateway may set. A caller could otherwise claim a consumer
 * project or a verified identity on routes where we set nothing (ESPv2 leaves
 * them in place on such routes; we remove them everywhere).
 */
const GATEWAY_HEADERS = ['x-endpoint-api-consumer-type', 'x-endpoint-api-consumer-number', 'x-endpoint-api-userinfo', 'x-endpoints-gateway-assertion', 'x-endpoints-client-cert'] as const;

function hasUnderscoreHeader(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.includes('_')) return true;
  return false;
}

export function pathChecks(p: StageParts): StageRun {
  return (req, ctx) => {
    if (ctx.url.length > MAX_PATH) return Errors.pathTooLong();
    if (ctx.url.includes('#')) return Errors.pathFragment();
    if (!p.allowUnderscoreHeaders && hasUnderscoreHeader(req.rawHeaders)) return Errors.badRequest();
    return ctx.path === null ? Errors.badRequest() : undefined;
  };
}

/**
 * ESPv2 honours X-HTTP-Method-Override: the method is replaced and the header
 * removed before routing. Only a method an operation can have is taken: any
 * other could only be refused, and would flow on as a caller-chosen name.
 */
export const methodOverride: StageRun = (req) => {
  const override = req.headers['x-http-method-override'];
  if (override === undefined) return undefined;
  delete req.headers['x-http-method-override'];
  const m = parseOperationMethod(Array.isArray(override) ? (override[0] ?? '') : override);
  if (m === undefined) return Errors.badRequest();
  req.method = m;
  return undefined;
};

export const route: StageRun = (req, ctx) => {
  const path = ctx.path!;
  const match = ctx.snapshot!.router.match(req.method ?? 'GET', path);
  if (match.kind === 'not-found') {
    // The gateway's own GET /healthz: other methods get ESPv2's 405 naming it (deny_invalid_method_test).
    const healthz = (path === '/healthz' || path === '/healthz/') && req.method !== 'GET' && req.method !== 'HEAD';
    return healthz ? Errors.methodNotAllowed('/healthz') : Errors.notDefined();
  }
  if (match.kind === 'method-not-allowed') return Errors.methodNotAllowed(match.template);
  ctx.op = match.value;
  ctx.bindings = match.bindings;
  ctx.keyNeeded = match.value.security.apiKeyRequired;
  return undefined;
};

export const sanitizeHeaders: StageRun = (req) => {
  const headers = req.headers;
  for (const h of GATEWAY_HEADERS) if (headers[h] !== undefined) delete headers[h];
  dropHopByHop(headers);
  return undefined;
};
