/**
 * The request chain: every stage a request passes before it is forwarded, in
 * order, each with the reason for its place (ESPv2's filter list,
 * src/go/configgenerator/filter_generator.go, is the model; its precedence is
 * reference 4.2). A stage is a small function of (request, context) that
 * passes (undefined) or returns the one answer the gateway gives instead; it
 * reads the request's own snapshot (ctx.snapshot), never "the current spec".
 * One runner (./runner.ts) runs this list for plain requests and WebSocket
 * upgrades alike.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../context.ts';
import { Errors, GatewayError } from '../errors.ts';
import { parseOperationMethod } from '../routing/methods.ts';
import { upstreamPath } from '../backend/upstream-path.ts';
import { dropHopByHop } from '../backend/hop-by-hop.ts';
import type { IdTokenSource } from '../backend/id-tokens.ts';
import { extractApiKey } from '../auth/apikeys/extract.ts';
import { clientIp } from '../auth/apikeys/client-ip.ts';
import type { ApiKeyVerifier } from '../auth/apikeys/verifier.ts';
import type { JwtAuthenticator } from '../auth/jwt/authenticator.ts';
import { extractJwt } from '../auth/jwt/extract.ts';
import { jwtError } from '../auth/jwt/errors.ts';
import { decideRequirement } from '../auth/requirements.ts';
import { authorize } from '../auth/authorization.ts';
import { ASSERTION_HEADER, type AssertionSigner } from '../auth/assertion.ts';
import type { SigninRuntime } from '../signin/runtime.ts';
import type { CheckRequest } from './types.ts';
import { withDeadline } from './deadline.ts';

export type StageResult = GatewayError | undefined | Promise<GatewayError | undefined>;

export interface Stage {
  readonly name: string;
  /** Why it stands where it does. */
  readonly why: string;
  run(req: IncomingMessage, ctx: RequestContext): StageResult;
}

/** The process-lifetime parts the stages use (per-spec data comes from ctx.snapshot). */
export interface StageParts {
  /** undefined: no key store configured; operations that need a key are refused 503. */
  readonly keys: ApiKeyVerifier | undefined;
  /** undefined: --backend-auth none. */
  readonly tokens: IdTokenSource | undefined;
  readonly trustedHops: number;
  /** ESPv2 (Envoy) refuses header names with `_` unless --underscores_in_headers. */
  readonly allowUnderscoreHeaders: boolean;
  /** undefined: operations with JWT schemes refuse tokens (`Jwks remote fetch is failed`). */
  readonly jwt: JwtAuthenticator | undefined;
  /** Signs X-Endpoints-Gateway-Assertion for backends with `x-endpoints-identity-header: true`. */
  readonly assertions: AssertionSigner | undefined;
  /** --validate report|enforce; undefined when off. */
  readonly validate: CheckRequest | undefined;
  /** Browser sign-in sessions (x-endpoints-signin); undefined: the spec has none. */
  readonly signin: SigninRuntime | undefined;
}

/** The longest path ESPv2 accepts (path_rewrite filter). */
const MAX_PATH = 8192;

/**
 * Headers only the gateway may set. A caller could otherwise claim a consumer
 * project or a verified identity on routes where we set nothing (ESPv2 leaves
 * them in place on such routes; we remove them everywhere).
 */
const GATEWAY_HEADERS = ['x-endpoint-api-consumer-type', 'x-endpoint-api-consumer-number', 'x-endpoint-api-userinfo', 'x-endpoints-gateway-assertion'] as const;

function hasUnderscoreHeader(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.includes('_')) return true;
  return false;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The chain, in order. */
export function createStages(p: StageParts): readonly Stage[] {
  // The Authorization value for the current ID token, built once per token rather than per request.
  let lastToken = '';
  let lastBearer = '';

  const stages: Stage[] = [
    {
      name: 'pathChecks',
      why: 'first, as ESPv2 path checks: nothing is matched or authenticated on a path that cannot be read one way',
      run(req, ctx) {
        if (ctx.url.length > MAX_PATH) return Errors.pathTooLong();
        if (ctx.url.includes('#')) return Errors.pathFragment();
        if (!p.allowUnderscoreHeaders && hasUnderscoreHeader(req.rawHeaders)) return Errors.badRequest();
        return ctx.path === null ? Errors.badRequest() : undefined;
      },
    },
    {
      name: 'methodOverride',
      // ESPv2 honours X-HTTP-Method-Override: the method is replaced and the header removed before
      // routing, so the checks run for the method the backend will see. Only a method an operation can
      // have is taken (any other could only be refused, and would flow on as a caller-chosen name).
      why: 'before routing: the route and every check are those of the method the backend will run',
      run(req) {
        const override = req.headers['x-http-method-override'];
        if (override === undefined) return undefined;
        delete req.headers['x-http-method-override'];
        const m = parseOperationMethod(Array.isArray(override) ? (override[0] ?? '') : override);
        if (m === undefined) return Errors.badRequest();
        req.method = m;
        return undefined;
      },
    },
    {
      name: 'route',
      why: 'the operation decides every later check: 404/405 before any credential is looked at',
      run(req, ctx) {
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
      },
    },
    {
      name: 'sanitizeHeaders',
      why: "after routing (a refused request is answered as sent), before any stage sets the gateway's own headers",
      run(req) {
        const headers = req.headers;
        for (const h of GATEWAY_HEADERS) if (headers[h] !== undefined) delete headers[h];
        dropHopByHop(headers);
        return undefined;
      },
    },
  ];

  if (p.signin) {
    const signin = p.signin;
    stages.push({
      name: 'session',
      why: "a sign-in session counts as its scheme in the requirement below; the gateway's cookies never go upstream",
      run(req, ctx) {
        const scheme = ctx.op!.security.signin;
        return signin.authenticate(req, scheme).then((session) => {
          if (session === undefined || !scheme) return undefined;
          ctx.user = { ...session, schemes: new Set([scheme.name]) };
          if (typeof session.claims.sub === 'string') ctx.endUser = session.claims.sub;
          return undefined;
        });
      },
    });
  }

  stages.push(
    {
      name: 'jwt',
      why: 'JWT before the API key, as ESPv2 filter chain: the requirement may be met without a key',
      run(req, ctx) {
        const security = ctx.op!.security;
        if (security.jwtSchemes.length === 0 && !security.signin) return undefined;
        const found = extractJwt(security.jwtLocations, ctx.rawQuery, req.headers);
        if (found === undefined) {
          if (ctx.user !== undefined) req.headers['x-endpoint-api-userinfo'] = ctx.user.payloadSegment;
          return undefined;
        }
        if (!p.jwt) return jwtError('jwksFetchFailed');
        return p.jwt.authenticate(found.token, found.location, security.jwtSchemes).then((verdict) => {
          if (verdict instanceof GatewayError) return verdict;
          const session = ctx.user;
          // A token and a session together: the token's identity, both schemes satisfied.
          ctx.user = session ? { ...verdict, schemes: new Set([...verdict.schemes, ...session.schemes]) } : verdict;
          if (typeof verdict.claims.sub === 'string') ctx.endUser = verdict.claims.sub;
          req.headers['x-endpoint-api-userinfo'] = verdict.payloadSegment;
          return undefined;
        });
      },
    },
    {
      name: 'requirement',
      why: "the spec's OR-of-AND security: decides whether a key is still needed, or refuses (a browser is sent to sign in)",
      run(req, ctx) {
        const security = ctx.op!.security;
        if (security.jwtSchemes.length === 0 && !security.signin) return undefined;
        const decision = decideRequirement(security, ctx.user?.schemes);
        if (decision.kind === 'refused') {
          return security.signin && !ctx.user && p.signin
            ? p.signin.challenge(req, security.signin, security.jwtSchemes.length > 0 ? decision.error : undefined)
            : decision.error;
        }
        ctx.keyNeeded = decision.kind === 'needs-key';
        return undefined;
      },
    },
    {
      name: 'apiKey',
      why: 'after JWT (ESPv2 order): identifies the consumer project that authorization logs and quota charges',
      run(req, ctx) {
        if (!ctx.keyNeeded) return undefined;
        const op = ctx.op!;
        const headers = req.headers;
        const key = extractApiKey(op.security.apiKeyLocations, ctx.rawQuery, headers);
        if (key === undefined) {
          const signin = op.security.signin;
          return signin && !ctx.user && p.signin ? p.signin.challenge(req, signin, Errors.missingApiKey()) : Errors.missingApiKey();
        }
        if (!p.keys) return Errors.noKeyStore();
        return p.keys
          .verify(key, {
            serviceName: ctx.snapshot!.config.serviceName,
            operationId: op.id,
            clientIp: clientIp(headers['x-forwarded-for'], req.socket.remoteAddress, p.trustedHops),
            referer: headers.referer,
            androidPackage: headerValue(headers['x-android-package']),
            androidCert: headerValue(headers['x-android-cert']),
            iosBundleId: headerValue(headers['x-ios-bundle-identifier']),
            requestId: ctx.requestId,
          })
          .then((verdict) => {
            if (verdict instanceof GatewayError) return verdict;
            ctx.consumerProject = verdict.project;
            ctx.keyFingerprint = verdict.fingerprint;
            ctx.keyHash = verdict.keyHash;
            if (verdict.project !== '') {
              headers['x-endpoint-api-consumer-type'] = 'PROJECT';
              headers['x-endpoint-api-consumer-number'] = verdict.project;
            }
            return undefined;
          });
      },
    },
    {
      name: 'authorization',
      why: 'x-endpoints-authorization needs the verified identity, and refuses before anything is read or charged',
      run(req, ctx) {
        const op = ctx.op!;
        if (op.authorization === null) return undefined;
        const refusal = authorize(op.authorization, ctx.user?.claims);
        if (!refusal) return undefined;
        return op.security.signin && p.signin ? p.signin.forbidden(req, ctx.user?.claims, refusal) : refusal;
      },
    },
  );

  if (p.validate) {
    const validate = p.validate;
    stages.push({
      name: 'validateRequest',
      // The body is read here, so the operation's deadline starts here: a body that stalls gets 504.
      why: 'after the caller is known, before quota: a request refused for its contract costs no quota',
      run(req, ctx) {
        ctx.deadlineStartNs = process.hrtime.bigint();
        return withDeadline(req, ctx, validate(req, ctx.snapshot!.config, ctx.op!, ctx.rawQuery, ctx.bindings));
      },
    });
  }

  stages.push(
    {
      name: 'quota',
      why: 'last of the checks: only a call that will be forwarded is charged',
      run(_req, ctx) {
        const op = ctx.op!;
        const quota = ctx.snapshot!.quota;
        if (op.metricCosts.length === 0 || !quota) return undefined;
        return quota
          .charge(op.metricCosts, {
            project: ctx.consumerProject || ctx.snapshot!.config.producerProject,
            ...(ctx.keyHash !== undefined ? { keyHash: ctx.keyHash } : {}),
          })
          .then((refusal) => refusal ?? undefined);
      },
    },
    {
      name: 'assertion',
      why: 'after every check: it signs what they established (user, consumer) for the backend',
      run(req, ctx) {
        const rule = ctx.op!.backend;
        ctx.rule = rule;
        if (!rule.identityHeader || !p.assertions) return undefined;
        return p.assertions
          .sign({ issuer: ctx.snapshot!.config.serviceName, audience: rule.address, user: ctx.user, consumerProject: ctx.consumerProject })
          .then((signed) => {
            req.headers[ASSERTION_HEADER] = signed;
            return undefined;
          });
      },
    },
    {
      name: 'backendAuth',
      why: 'only for a call that will be forwarded: the ID token is the one thing that may have to be fetched',
      run(req, ctx) {
        const rule = ctx.rule!;
        if (rule.audience === null || !p.tokens) return undefined;
        const token = p.tokens.peek(rule.audience);
        if (token !== undefined) return attachToken(req, rule.serverlessHeader === true, token);
        const aud = rule.audience;
        return p.tokens.get(aud).then(
          (t) => attachToken(req, rule.serverlessHeader === true, t),
          () => Errors.tokenNotFound(aud),
        );
      },
    },
    {
      name: 'pathRewrite',
      why: 'last: the checks above matched and logged the path the caller sent; the backend gets its own',
      run(req, ctx) {
        const rule = ctx.rule!;
        req.headers.host = rule.hostHeader;
        req.url = upstreamPath(rule, ctx.path!, ctx.rawQuery, ctx.bindings);
        return undefined;
      },
    },
  );

  function attachToken(req: IncomingMessage, serverlessHeader: boolean, token: string): undefined {
    if (token !== lastToken) {
      lastToken = token;
      lastBearer = `Bearer ${token}`;
    }
    const headers = req.headers;
    if (serverlessHeader) {
      // Cloud Run checks X-Serverless-Authorization first: the app's own Authorization passes untouched.
      headers['x-serverless-authorization'] = lastBearer;
      return undefined;
    }
    // ESPv2 moves the caller's Authorization aside; a caller-sent X-Forwarded-Authorization never survives next to our token.
    const callerAuth = headers.authorization;
    if (callerAuth !== undefined) headers['x-forwarded-authorization'] = callerAuth;
    else if (headers['x-forwarded-authorization'] !== undefined) delete headers['x-forwarded-authorization'];
    // Cloud Run would check a caller's X-Serverless-Authorization before our token.
    if (headers['x-serverless-authorization'] !== undefined) delete headers['x-serverless-authorization'];
    headers.authorization = lastBearer;
    return undefined;
  }

  return Object.freeze(stages);
}
