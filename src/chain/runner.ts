import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import type { ChainResult, Stage } from './stage.ts';

/**
 * Runs the stages in order until one answers. Only what is a promise is
 * awaited (as Fastify's hook runner does): a request whose stages are all
 * synchronous (a cached key, no quota) never leaves the current tick.
 * The same runner serves plain requests and WebSocket upgrades.
 */
export function runChain(stages: readonly Stage[], req: IncomingMessage, ctx: RequestContext, from = 0): ChainResult {
  for (let i = from; i < stages.length; i++) {
    const r = stages[i]!.run(req, ctx);
    if (r === undefined) continue;
    if (r instanceof GatewayError) return r;
    const next = i + 1;
    return r.then((v) => (v === undefined || v === null ? runChain(stages, req, ctx, next) : v));
  }
  return undefined;
}

/** The chain as a promise, for callers that always wait (upgrades). */
export function runChainAsync(stages: readonly Stage[], req: IncomingMessage, ctx: RequestContext): Promise<GatewayError | undefined> {
  try {
    return Promise.resolve(runChain(stages, req, ctx));
  } catch (err) {
    return Promise.reject(err);
  }
}
