/**
 * The chain's checks as events of a sampled request's server event: key check
 * (cache hit or miss), JWT, quota, ID token, and the others that apply. Only
 * checks that applied to the request are recorded (a JWT stage on an
 * operation without JWT schemes is not), each at its start with its duration.
 * Used only when tracing is on; unsampled requests pay one field read.
 */
import type { IncomingMessage } from 'node:http';
import { hrTime } from '@opentelemetry/core';
import type { HrTime } from '@opentelemetry/api';
import { GatewayError } from '../errors.ts';
import type { Stage, StageResult } from '../chain/stage.ts';
import type { RequestContext } from '../context.ts';

interface Check {
  /** The event's name. */
  readonly event: string;
  /** Whether the check applies to this request (read before it runs). */
  readonly applies: (ctx: RequestContext) => boolean;
  /** A synchronous answer came from a cache, a promise from a fetch. */
  readonly cached: boolean;
}

const CHECKS: Readonly<Record<string, (tokens: boolean) => Check>> = {
  session: () => ({ event: 'sign-in session', applies: (c) => c.op!.security.signin != null, cached: false }),
  jwt: () => ({ event: 'jwt', applies: (c) => c.op!.security.jwtSchemes.length > 0, cached: false }),
  apiKey: () => ({ event: 'api key check', applies: (c) => c.keyNeeded, cached: true }),
  authorization: () => ({ event: 'authorization', applies: (c) => c.op!.authorization !== null, cached: false }),
  validateRequest: () => ({ event: 'request validation', applies: () => true, cached: false }),
  quota: () => ({ event: 'quota', applies: (c) => c.op!.metricCosts.length > 0 && c.snapshot?.quota !== undefined, cached: false }),
  backendAuth: (tokens) => ({ event: 'id token', applies: (c) => tokens && c.rule!.audience !== null, cached: true }),
};

function reasonOf(v: GatewayError | null | undefined): string | undefined {
  return v === undefined || v === null ? undefined : v.reason;
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
      const t0 = performance.now();
      const r = run(req, ctx);
      if (r === undefined || r instanceof GatewayError) {
        t.check(check.event, start, performance.now() - t0, check.cached ? 'hit' : undefined, reasonOf(r));
        return r;
      }
      return r.then(
        (v) => {
          t.check(check.event, start, performance.now() - t0, check.cached ? 'miss' : undefined, reasonOf(v));
          return v;
        },
        (err: unknown) => {
          t.check(check.event, start, performance.now() - t0, undefined, 'internal');
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
