/**
 * The chain's checks as child spans of a sampled request's server span: key
 * check (cache hit or miss), JWT, quota, ID token, and the others that apply.
 * Only checks that applied to the request are recorded (a JWT stage on an
 * operation without JWT schemes is not). The span is made once the check is
 * over, with its start time, so a check that does not apply costs nothing.
 * Used only when tracing is on; unsampled requests pay one field read.
 */
import type { IncomingMessage } from 'node:http';
import { hrTime } from '@opentelemetry/core';
import type { HrTime } from '@opentelemetry/api';
import { GatewayError } from '../errors.ts';
import type { Stage, StageResult } from '../chain/stage.ts';
import type { RequestContext } from '../context.ts';

interface Check {
  /** The span's name. */
  readonly span: string;
  /** Whether the check applies to this request (read before it runs). */
  readonly applies: (ctx: RequestContext) => boolean;
  /** A synchronous answer came from a cache, a promise from a fetch. */
  readonly cached: boolean;
}

const CHECKS: Readonly<Record<string, (tokens: boolean) => Check>> = {
  session: () => ({ span: 'sign-in session', applies: (c) => c.op!.security.signin != null, cached: false }),
  jwt: () => ({ span: 'jwt', applies: (c) => c.op!.security.jwtSchemes.length > 0, cached: false }),
  apiKey: () => ({ span: 'api key check', applies: (c) => c.keyNeeded, cached: true }),
  authorization: () => ({ span: 'authorization', applies: (c) => c.op!.authorization !== null, cached: false }),
  validateRequest: () => ({ span: 'request validation', applies: () => true, cached: false }),
  quota: () => ({ span: 'quota', applies: (c) => c.op!.metricCosts.length > 0 && c.snapshot?.quota !== undefined, cached: false }),
  backendAuth: (tokens) => ({ span: 'id token', applies: (c) => tokens && c.rule!.audience !== null, cached: true }),
};

function reasonOf(v: GatewayError | undefined): string | undefined {
  return v === undefined ? undefined : v.reason;
}

function traceCheck(stage: Stage, check: Check): Stage {
  const run = stage.run;
  return Object.freeze({
    name: stage.name,
    why: stage.why,
    run(req: IncomingMessage, ctx: RequestContext): StageResult {
      const t = ctx.trace;
      if (t === undefined || ctx.op === undefined || !check.applies(ctx)) return run(req, ctx);
      const start: HrTime = hrTime();
      const r = run(req, ctx);
      if (r === undefined || r instanceof GatewayError) {
        t.check(check.span, start, check.cached ? 'hit' : undefined, reasonOf(r));
        return r;
      }
      return r.then(
        (v) => {
          t.check(check.span, start, check.cached ? 'miss' : undefined, reasonOf(v));
          return v;
        },
        (err: unknown) => {
          t.check(check.span, start, undefined, 'internal');
          throw err;
        },
      );
    },
  });
}

export function traceChecks(stages: readonly Stage[], tokens: boolean): readonly Stage[] {
  return Object.freeze(
    stages.map((s) => {
      const c = CHECKS[s.name];
      return c === undefined ? s : traceCheck(s, c(tokens));
    }),
  );
}
