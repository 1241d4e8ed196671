/**
 * The serving port's request entry: one snapshot and one context per request,
 * then the front door (the gateway's own routes), then the chain, then the
 * proxy. Plain Node HTTP: express in front of this path measured 1.16x the CPU
 * per request (npm run bench, "gateway with express in front"), for a short
 * middleware list it no longer has, so the API path does without it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { newContext, type RequestContext } from '../context.ts';
import { Errors, GatewayError } from '../errors.ts';
import { normalizePath } from '../routing/normalize.ts';
import { assignRequestId, REQUEST_ID_HEADER } from '../observability/request-id.ts';
import { traceLogFields } from '../observability/access-log.ts';
import type { Logger } from '../observability/logger.ts';
import type { Snapshot } from '../runtime/snapshot.ts';
import type { Stage } from '../chain/stage.ts';
import { runChain, runChainAsync } from '../chain/runner.ts';
import { answerLocally, ownedPath, type LocalRoute } from './front-door.ts';
import { sendError } from './answer.ts';
import type { Recorder } from './record.ts';
import type { RequestTrace } from '../tracing/request-trace.ts';

export interface HandlerParts {
  /** The snapshot in force: read once per request, at entry (none for a host no service names). */
  readonly current: () => Snapshot | undefined;
  readonly stages: readonly Stage[];
  readonly routes: readonly LocalRoute[];
  /** The proxy: forwards what the chain passed. */
  readonly forward: (req: IncomingMessage, res: ServerResponse) => void;
  readonly record: Recorder;
  /** --cors-preset: CORS headers on every response to an allowed origin, the gateway's own included. */
  readonly decorate: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** True while shutting down: responses ask clients to close their connection. */
  readonly draining: () => boolean;
  readonly logger: Logger;
  /** The path normalization in force (--disable-normalize-path); default: src/routing/normalize.ts. */
  readonly normalize?: ((rawPath: string) => string | null) | undefined;
  /** Tracing (src/tracing/): the request's trace when it is sampled; undefined when tracing is off. */
  readonly startTrace?: ((req: IncomingMessage) => RequestTrace | undefined) | undefined;
  /** The Cloud project of the log lines' trace field (as the access log's). */
  readonly traceProject?: string | undefined;
}

/** Splits the URL once: the normalized path every route and stage compares, and the raw query. */
function readUrl(ctx: RequestContext, url: string, normalize: (rawPath: string) => string | null): void {
  const q = url.indexOf('?');
  ctx.rawQuery = q < 0 ? undefined : url.slice(q + 1);
  ctx.path = normalize(q < 0 ? url : url.slice(0, q));
}

/** Takes the snapshot and sets up the context of one request or upgrade. */
function enter(parts: HandlerParts, req: IncomingMessage, ctx: RequestContext): void {
  const url = req.url ?? '/';
  ctx.snapshot = parts.current();
  ctx.url = url;
  readUrl(ctx, url, parts.normalize ?? normalizePath);
  if (ctx.requestId === '') ctx.requestId = assignRequestId(req);
  if (parts.startTrace !== undefined) ctx.trace = parts.startTrace(req);
}

export function createRequestHandler(parts: HandlerParts) {
  const { stages, routes, forward, record, decorate, logger } = parts;

  function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // The operation, not the URL: a query may carry an API key.
    logger.error({ err, method: req.method, operation: req.gw?.op?.id, requestId: req.gw?.requestId, ...traceLogFields(req.gw?.trace, parts.traceProject) }, 'internal error while handling a request');
    sendError(res, req.gw, Errors.internal());
  }

  function settle(req: IncomingMessage, res: ServerResponse, verdict: GatewayError | undefined): void {
    if (verdict !== undefined) return sendError(res, req.gw, verdict);
    try {
      forward(req, res);
    } catch (err) {
      fail(req, res, err);
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = newContext(req);
    req.gw = ctx;
    // Sign-in's session refresh sets its cookie on whatever answers the request.
    (req as IncomingMessage & { res?: ServerResponse }).res = res;
    enter(parts, req, ctx);
    // Before any answer, so the gateway's own refusals carry it too.
    res.setHeader(REQUEST_ID_HEADER, ctx.requestId);
    record.track(res);
    if (parts.draining()) res.setHeader('connection', 'close');
    decorate?.(req, res);
    let verdict;
    try {
      if (answerLocally(routes, req, res, ctx)) return;
      verdict = runChain(stages, req, ctx);
    } catch (err) {
      return fail(req, res, err);
    }
    if (verdict === undefined || verdict instanceof GatewayError) return settle(req, res, verdict);
    verdict.then(
      (v) => settle(req, res, v),
      (err: unknown) => fail(req, res, err),
    );
  }

  /** For the upgrade handler (src/backend/websocket.ts): the same entry and chain, then a tunnel instead of the proxy. */
  function runUpgrade(req: IncomingMessage, ctx: RequestContext): Promise<GatewayError | undefined> {
    enter(parts, req, ctx);
    // A gateway path is never tunnelled to a backend, whatever its encoding.
    const owned = ownedPath(routes, ctx.path);
    if (owned !== undefined) return Promise.resolve(owned);
    return runChainAsync(stages, req, ctx);
  }

  return { handle, runUpgrade };
}
