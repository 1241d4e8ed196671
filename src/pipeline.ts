import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction } from 'express';
import type { CompiledService } from './config/compile.ts';
import type { Operation } from './config/types.ts';
import { newContext, type RequestContext } from './context.ts';
import { Errors, GatewayError } from './errors.ts';
import { normalizePath } from './routing/normalize.ts';
import { parseOperationMethod } from './routing/methods.ts';
import { upstreamPath } from './backend/upstream-path.ts';
import { dropHopByHop } from './backend/hop-by-hop.ts';
import type { IdTokenSource } from './backend/id-tokens.ts';
import { extractApiKey } from './auth/apikeys/extract.ts';
import { clientIp } from './auth/apikeys/client-ip.ts';
import type { ApiKeyVerifier } from './auth/apikeys/verifier.ts';
import type { QuotaEnforcer } from './quota/enforcer.ts';
import type { JwtAuthenticator, VerifiedJwt } from './auth/jwt/authenticator.ts';
import { extractJwt } from './auth/jwt/extract.ts';
import { jwtError } from './auth/jwt/errors.ts';
import { decideRequirement } from './auth/requirements.ts';
import { authorize } from './auth/authorization.ts';
import { ASSERTION_HEADER, type AssertionSigner } from './auth/assertion.ts';
import type { TrafficValidation } from './validation/traffic-validation.ts';
import { assignRequestId, REQUEST_ID_HEADER } from './observability/request-id.ts';
import type { SigninRuntime } from './signin/index.ts';

export interface PipelineDeps {
  /** The compiled spec in force; read once per request so a reload never changes a request mid-way. */
  readonly service: () => CompiledService;
  /** undefined: no key store configured; operations that need a key are refused 503. */
  readonly keys: ApiKeyVerifier | undefined;
  /** Swapped together with `service` on a reload (its limits come from the spec). */
  readonly quota: () => QuotaEnforcer | undefined;
  /** undefined: --backend-auth none. */
  readonly tokens: IdTokenSource | undefined;
  readonly trustedHops: number;
  /** ESPv2 (Envoy) refuses header names with `_` unless --underscores_in_headers. */
  readonly allowUnderscoreHeaders: boolean;
  readonly onError?: (req: IncomingMessage, ctx: RequestContext, err: GatewayError) => void;
  /** End-user JWT verification; undefined: operations with JWT schemes refuse tokens (`Jwks remote fetch is failed`). */
  readonly jwt?: JwtAuthenticator | undefined;
  /** Signs X-Endpoints-Gateway-Assertion for backends with `x-endpoints-identity-header: true`. */
  readonly assertions?: AssertionSigner | undefined;
  /** --validate report|enforce: the request checked against the spec (undefined when off). */
  readonly validate?: TrafficValidation['checkRequest'] | undefined;
  /** Browser sign-in sessions (x-endpoints-signin); undefined: the spec has none. */
  readonly signin?: SigninRuntime | undefined;
}

/** The longest path ESPv2 accepts (path_rewrite filter). */
const MAX_PATH = 8192;

/**
 * Headers only the gateway may set. A caller could otherwise claim a consumer
 * project or a verified identity on routes where we set nothing (ESPv2 leaves
 * them in place on such routes; we remove them everywhere).
 */
const GATEWAY_HEADERS = [
  'x-endpoint-api-consumer-type',
  'x-endpoint-api-consumer-number',
  'x-endpoint-api-userinfo',
  'x-endpoints-gateway-assertion',
] as const;

function hasUnderscoreHeader(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.includes('_')) return true;
  return false;
}

export function sendError(res: ServerResponse, ctx: RequestContext | undefined, err: GatewayError): void {
  if (ctx) ctx.reason = err.reason;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = err.body();
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (err.headers) Object.assign(headers, err.headers);
  // A local answer to a request whose body has not arrived (a 401 to a dribbled
  // upload): Node would keep reading that body to reuse the connection, for as
  // long as the caller cares to send it. Close instead, as Envoy does.
  if (!res.req.complete) headers.connection = 'close';
  // Kept readable through getHeader: the access log's responseSize.
  res.setHeader('content-length', headers['content-length']!);
  res.writeHead(err.status, headers);
  res.end(body);
}

/**
 * The request stages, in ESPv2's order (reference 4.2, precedence):
 * path checks → route (404/405) → JWT (401/403) → API key (401/400/403/503)
 * → x-endpoints-authorization (403) → quota (429) → identity assertion
 * → backend ID token (500) → path translation → proxy (the next middleware).
 * Each stage either passes or answers with one GatewayError.
 */
export function createPipeline(deps: PipelineDeps) {
  // The Authorization value for the current ID token, built once per token rather than per request.
  let lastToken = '';
  let lastBearer = '';
  async function run(req: IncomingMessage, ctx: RequestContext): Promise<GatewayError | undefined> {
    if (ctx.requestId === '') ctx.requestId = assignRequestId(req);
    const url = req.url ?? '/';
    if (url.length > MAX_PATH) return Errors.pathTooLong();
    if (url.includes('#')) return Errors.pathFragment();
    if (!deps.allowUnderscoreHeaders && hasUnderscoreHeader(req.rawHeaders)) return Errors.badRequest();
    const q = url.indexOf('?');
    const rawQuery = q < 0 ? undefined : url.slice(q + 1);
    const path = normalizePath(q < 0 ? url : url.slice(0, q));
    if (path === null) return Errors.badRequest();

    const service = deps.service();
    const quota = deps.quota();
    // ESPv2 honours X-HTTP-Method-Override: the method is replaced and the header
    // removed before routing, so the checks run for the method the backend will
    // see (a backend framework that honoured the header itself would otherwise
    // run a method whose checks were never made). Only a method an operation can
    // have is taken: any other could only be refused, and would flow on as a
    // caller-chosen method name (ESPv2 routes it to 404/405; we answer 400).
    const override = req.headers['x-http-method-override'];
    if (override !== undefined) {
      delete req.headers['x-http-method-override'];
      const m = parseOperationMethod(Array.isArray(override) ? (override[0] ?? '') : override);
      if (m === undefined) return Errors.badRequest();
      req.method = m;
    }
    const match = service.router.match(req.method ?? 'GET', path);
    // The gateway's own GET /healthz: other methods get ESPv2's 405 naming it (deny_invalid_method_test).
    if (match.kind === 'not-found') {
      const healthz = (path === '/healthz' || path === '/healthz/') && req.method !== 'GET' && req.method !== 'HEAD';
      return healthz ? Errors.methodNotAllowed('/healthz') : Errors.notDefined();
    }
    if (match.kind === 'method-not-allowed') return Errors.methodNotAllowed(match.template);
    const op: Operation = match.value;
    ctx.op = op;

    const headers = req.headers;
    for (const h of GATEWAY_HEADERS) if (headers[h] !== undefined) delete headers[h];
    dropHopByHop(headers);

    // JWT before the key, as ESPv2's filter chain; operations without JWT schemes skip it all.
    const security = op.security;
    let user: VerifiedJwt | undefined;
    let keyNeeded = security.apiKeyRequired;
    // A sign-in session counts as its scheme in the OR-of-AND below (src/signin); the gateway's cookies never go upstream.
    const signin = security.signin;
    const session = deps.signin ? await deps.signin.authenticate(req, signin) : undefined;
    if (security.jwtSchemes.length > 0 || signin) {
      const found = extractJwt(security.jwtLocations, rawQuery, headers);
      if (found !== undefined) {
        if (!deps.jwt) return jwtError('jwksFetchFailed');
        const verdict = await deps.jwt.authenticate(found.token, found.location, security.jwtSchemes);
        if (verdict instanceof GatewayError) return verdict;
        user = verdict;
        if (typeof verdict.claims.sub === 'string') ctx.endUser = verdict.claims.sub;
        headers['x-endpoint-api-userinfo'] = verdict.payloadSegment;
      }
      if (session && signin) {
        user = user ? { ...user, schemes: new Set([...user.schemes, signin.name]) } : { ...session, schemes: new Set([signin.name]) };
        if (headers['x-endpoint-api-userinfo'] === undefined) headers['x-endpoint-api-userinfo'] = session.payloadSegment;
        ctx.endUser ??= typeof session.claims.sub === 'string' ? session.claims.sub : undefined;
      }
      const decision = decideRequirement(security, user?.schemes);
      if (decision.kind === 'refused') return signin && !user && deps.signin ? deps.signin.challenge(req, signin, security.jwtSchemes.length > 0 ? decision.error : undefined) : decision.error;
      keyNeeded = decision.kind === 'needs-key';
    }

    let keyHash: string | undefined;
    if (keyNeeded) {
      const key = extractApiKey(op.security.apiKeyLocations, rawQuery, headers);
      if (key === undefined) return signin && !user && deps.signin ? deps.signin.challenge(req, signin, Errors.missingApiKey()) : Errors.missingApiKey();
      if (!deps.keys) return Errors.noKeyStore();
      const verdict = await deps.keys.verify(key, {
        serviceName: service.config.serviceName,
        operationId: op.id,
        clientIp: clientIp(headers['x-forwarded-for'], req.socket.remoteAddress, deps.trustedHops),
        referer: headers.referer,
        androidPackage: headerValue(headers['x-android-package']),
        androidCert: headerValue(headers['x-android-cert']),
        iosBundleId: headerValue(headers['x-ios-bundle-identifier']),
        requestId: ctx.requestId,
      });
      if (verdict instanceof GatewayError) return verdict;
      ctx.consumerProject = verdict.project;
      ctx.keyFingerprint = verdict.fingerprint;
      keyHash = verdict.keyHash;
      if (verdict.project !== '') {
        headers['x-endpoint-api-consumer-type'] = 'PROJECT';
        headers['x-endpoint-api-consumer-number'] = verdict.project;
      }
    }

    if (op.authorization !== null) {
      const refusal = authorize(op.authorization, user?.claims);
      if (refusal) return signin && deps.signin ? deps.signin.forbidden(req, user?.claims, refusal) : refusal;
    }

    // After the caller is known, before quota: a request refused for its contract costs no quota.
    if (deps.validate !== undefined) {
      const refusal = await deps.validate(req, service.config, op, rawQuery, match.bindings);
      if (refusal) return refusal;
    }

    if (op.metricCosts.length > 0 && quota) {
      const refusal = await quota.charge(op.metricCosts, {
        project: ctx.consumerProject || service.config.producerProject,
        ...(keyHash !== undefined ? { keyHash } : {}),
      });
      if (refusal) return refusal;
    }

    const rule = op.backend;
    ctx.rule = rule;
    if (rule.identityHeader && deps.assertions) {
      headers[ASSERTION_HEADER] = await deps.assertions.sign({
        issuer: service.config.serviceName,
        audience: rule.address,
        user,
        consumerProject: ctx.consumerProject,
      });
    }
    if (rule.audience !== null && deps.tokens) {
      const aud = rule.audience;
      let token = deps.tokens.peek(aud);
      if (token === undefined) {
        try {
          token = await deps.tokens.get(aud);
        } catch {
          return Errors.tokenNotFound(aud);
        }
      }
      if (token !== lastToken) {
        lastToken = token;
        lastBearer = `Bearer ${token}`;
      }
      if (rule.serverlessHeader) {
        // Cloud Run checks X-Serverless-Authorization first: the app's own Authorization passes untouched.
        headers['x-serverless-authorization'] = lastBearer;
      } else {
        // ESPv2 moves the caller's Authorization aside; a caller-sent
        // X-Forwarded-Authorization never survives next to our token.
        const callerAuth = headers.authorization;
        if (callerAuth !== undefined) headers['x-forwarded-authorization'] = callerAuth;
        else if (headers['x-forwarded-authorization'] !== undefined) delete headers['x-forwarded-authorization'];
        // Cloud Run would check a caller's X-Serverless-Authorization before our token.
        if (headers['x-serverless-authorization'] !== undefined) delete headers['x-serverless-authorization'];
        headers.authorization = lastBearer;
      }
    }
    headers.host = rule.hostHeader;
    req.url = upstreamPath(rule, path, rawQuery, match.bindings);
    return undefined;
  }

  const middleware = function gateway(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const ctx = newContext();
    req.gw = ctx;
    // Before any answer, so the gateway's own refusals carry it too.
    ctx.requestId = assignRequestId(req);
    res.setHeader(REQUEST_ID_HEADER, ctx.requestId);
    run(req, ctx).then(
      (err) => {
        if (err === undefined) return next();
        deps.onError?.(req, ctx, err);
        sendError(res, ctx, err);
      },
      (err: unknown) => next(err),
    );
  };
  // `run` is the same chain for callers without a ServerResponse (WebSocket upgrades).
  return Object.assign(middleware, { run });
}

export type Pipeline = ReturnType<typeof createPipeline>;

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
