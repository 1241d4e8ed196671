/** The stages that prepare a checked call for its backend: its contract, its quota, the gateway's identity and token, its path. */
import type { IncomingMessage } from 'node:http';
import { Errors } from '../../errors.ts';
import { upstreamPath } from '../../backend/upstream-path.ts';
import { ASSERTION_HEADER } from '../../auth/assertion.ts';
import type { CheckRequest } from '../types.ts';
import type { StageParts, StageRun } from '../stage.ts';
import { withDeadline } from '../deadline.ts';
import { applyClaimHeaders } from '../../auth/claim-headers.ts';

/** The body is read here, so the operation's deadline starts here: a body that stalls gets 504. */
export function validateRequest(validate: CheckRequest): StageRun {
  return (req, ctx) => {
    ctx.deadlineStartNs = process.hrtime.bigint();
    return withDeadline(req, ctx, validate(req, ctx.snapshot!.config, ctx.op!, ctx.rawQuery, ctx.bindings));
  };
}

export const quota: StageRun = (_req, ctx) => {
  const op = ctx.op!;
  const q = ctx.snapshot!.quota;
  if (op.metricCosts.length === 0 || !q) return undefined;
  const project = ctx.consumerProject || ctx.snapshot!.config.producerProject;
  // One object of one shape per charge: the claims name the budget of per-person limits.
  // Its null (admitted) goes on as undefined does: no extra promise per call.
  return q.charge(op.metricCosts, { project, keyHash: ctx.keyHash, claims: ctx.user?.claims });
};

/** x-endpoints-claim-headers; a spec without them has null on every operation and this returns at once. */
export const claimHeaders: StageRun = (req, ctx) => {
  const ch = ctx.op!.claimHeaders;
  if (ch) applyClaimHeaders(req.headers, ch, ctx.user?.claims);
  return undefined;
};

export function assertion(p: StageParts): StageRun {
  return (req, ctx) => {
    const rule = ctx.op!.backend;
    ctx.rule = rule;
    if (!rule.identityHeader || !p.assertions) return undefined;
    const claims = { issuer: ctx.snapshot!.config.serviceName, audience: rule.address, user: ctx.user, consumerProject: ctx.consumerProject };
    return p.assertions.sign(claims).then((signed) => {
      req.headers[ASSERTION_HEADER] = signed;
      return undefined;
    });
  };
}

export function backendAuth(p: StageParts): StageRun {
  // The Authorization value for the current ID token, built once per token rather than per request.
  let lastToken = '';
  let lastBearer = '';
  const attach = (req: IncomingMessage, serverlessHeader: boolean, token: string): undefined => {
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
  };
  return (req, ctx) => {
    const rule = ctx.rule!;
    const tokens = p.tokens;
    if (rule.audience === null || !tokens) return undefined;
    const serverless = rule.serverlessHeader === true;
    const token = tokens.peek(rule.audience);
    if (token !== undefined) return attach(req, serverless, token);
    const aud = rule.audience;
    return tokens.get(aud).then(
      (t) => attach(req, serverless, t),
      () => Errors.tokenNotFound(aud),
    );
  };
}

export const pathRewrite: StageRun = (req, ctx) => {
  const rule = ctx.rule!;
  req.headers.host = rule.hostHeader;
  req.url = upstreamPath(rule, ctx.path!, ctx.rawQuery, ctx.bindings);
  return undefined;
};
