/** The stages that establish who calls: a sign-in session, a JWT, the security requirement, an API key, the authorization rules. */
import { Errors, GatewayError } from '../../errors.ts';
import { extractApiKey } from '../../auth/apikeys/extract.ts';
import { clientIp } from '../../auth/apikeys/client-ip.ts';
import { extractJwt } from '../../auth/jwt/extract.ts';
import { jwtError } from '../../auth/jwt/errors.ts';
import { decideRequirement } from '../../auth/requirements.ts';
import { authorize } from '../../auth/authorization.ts';
import { clientCertNames } from '../../tls/client-cert.ts';
import type { SigninRuntime } from '../../signin/runtime.ts';
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../../context.ts';
import type { ApiKeyVerifier, VerifiedKey } from '../../auth/apikeys/verifier.ts';
import type { StageParts, StageRun } from '../stage.ts';

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Runs for every request when sign-in is on: it also strips the gateway's own cookies from what goes upstream. */
export function session(signin: SigninRuntime): StageRun {
  return (req, ctx) => {
    const scheme = ctx.op!.security.signin;
    return signin.authenticate(req, scheme).then((s) => {
      if (s === undefined || !scheme) return undefined;
      ctx.user = { ...s, schemes: new Set([scheme.name]) };
      if (typeof s.claims.sub === 'string') ctx.endUser = s.claims.sub;
      return undefined;
    });
  };
}

export function jwt(p: StageParts): StageRun {
  return (req, ctx) => {
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
      const s = ctx.user;
      // A token and a session together: the token's identity, both schemes satisfied.
      ctx.user = s ? { ...verdict, schemes: new Set([...verdict.schemes, ...s.schemes]) } : verdict;
      if (typeof verdict.claims.sub === 'string') ctx.endUser = verdict.claims.sub;
      req.headers['x-endpoint-api-userinfo'] = verdict.payloadSegment;
      return undefined;
    });
  };
}

/** The spec's OR-of-AND security: whether a key is still needed; a refused browser is sent to sign in. */
export function requirement(p: StageParts): StageRun {
  return (req, ctx) => {
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
  };
}

export function apiKey(p: StageParts): StageRun {
  const accept = (verdict: VerifiedKey | GatewayError, req: IncomingMessage, ctx: RequestContext): GatewayError | undefined => {
    if (verdict instanceof GatewayError) return verdict;
    ctx.consumerProject = verdict.project;
    ctx.keyFingerprint = verdict.fingerprint;
    ctx.keyHash = verdict.keyHash;
    if (verdict.project !== '') {
      req.headers['x-endpoint-api-consumer-type'] = 'PROJECT';
      req.headers['x-endpoint-api-consumer-number'] = verdict.project;
    }
    return undefined;
  };
  const check = (keys: ApiKeyVerifier, key: string, req: IncomingMessage, ctx: RequestContext) => {
    const headers = req.headers;
    const facts = {
      serviceName: ctx.snapshot!.config.serviceName,
      operationId: ctx.op!.id,
      clientIp: clientIp(headers['x-forwarded-for'], req.socket.remoteAddress, p.trustedHops),
      referer: headers.referer,
      androidPackage: headerValue(headers['x-android-package']),
      androidCert: headerValue(headers['x-android-cert']),
      iosBundleId: headerValue(headers['x-ios-bundle-identifier']),
      requestId: ctx.requestId,
    };
    // A warm key is judged at once: no promise on the common path.
    const now = keys.verifyNow(key, facts);
    if (now !== undefined) return accept(now, req, ctx);
    return keys.verify(key, facts).then((verdict) => accept(verdict, req, ctx));
  };
  return (req, ctx) => {
    if (!ctx.keyNeeded) return undefined;
    const security = ctx.op!.security;
    const key = extractApiKey(security.apiKeyLocations, ctx.rawQuery, req.headers);
    if (key === undefined) {
      const signin = security.signin;
      return signin && !ctx.user && p.signin ? p.signin.challenge(req, signin, Errors.missingApiKey()) : Errors.missingApiKey();
    }
    return p.keys ? check(p.keys, key, req, ctx) : Errors.noKeyStore();
  };
}

export function authorization(p: StageParts): StageRun {
  return (req, ctx) => {
    const op = ctx.op!;
    if (op.authorization === null) return undefined;
    const rule = op.authorization;
    // The certificate's names are looked up only for a rule that lists certificates.
    const refusal = authorize(rule, ctx.user?.claims, rule.clientCertificates && clientCertNames(req));
    if (!refusal) return undefined;
    return op.security.signin && p.signin ? p.signin.forbidden(req, ctx.user?.claims, refusal) : refusal;
  };
}
