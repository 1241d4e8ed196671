import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction } from 'express';
import { createProxyMiddleware, debugProxyErrorsPlugin, proxyEventsPlugin } from 'http-proxy-middleware';
import { Errors, GatewayError } from '../errors.ts';
import { sendError } from '../pipeline.ts';

/** ESPv2's default --backend_retry_ons. */
export const DEFAULT_RETRY_ONS: readonly string[] = ['reset', 'connect-failure', 'refused-stream'];

export interface ProxyEvents {
  /** An upstream failure the gateway answered for (kind: timeout, connect, reset, ...). */
  onUpstreamError?: (req: IncomingMessage, kind: string, err: Error) => void;
  /** Configuration warnings at start (an unknown retry-on value). */
  onWarning?: (msg: string, fields?: Record<string, unknown>) => void;
  readonly retryOns?: readonly string[];
  readonly retryNum?: number;
  readonly perTryTimeoutMs?: number | undefined;
  readonly maxConnections?: number;
  readonly maxPending?: number;
}

/** Envoy's wording for a backend that cannot be reached (reference 4.2). */
function unreachable(code: string | undefined): GatewayError {
  const reason =
    code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `remote connection failure, transport failure reason: ${code}`
      : `connection termination${code ? `, transport failure reason: ${code}` : ''}`;
  return new GatewayError(
    503,
    `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`,
    'upstream_unavailable',
  );
}

function kindOf(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connect_refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return code?.startsWith('ERR_TLS') || code?.includes('CERT') ? 'tls' : 'other';
  }
}

/**
 * The forwarding stage: http-proxy-middleware over keep-alive agents, bodies
 * streamed both ways. The pipeline has already rewritten req.url and the
 * headers; here we only pick the target and enforce the backend's deadline.
 */
export function createBackendProxy(events: ProxyEvents = {}) {
  const targets = new Map<string, URL>();
  const inFlight = new WeakMap<IncomingMessage, ClientRequest>();

  const hpm = createProxyMiddleware<IncomingMessage, ServerResponse>({
    router: (req) => {
      const origin = req.gw!.rule!.origin;
      let url = targets.get(origin);
      if (url === undefined) {
        url = new URL(origin);
        targets.set(origin, url);
      }
      return url as unknown as string;
    },
    changeOrigin: false,
    xfwd: false,
    // Only the plugins we need: error safety and our `on` handlers (no per-request logger plugin).
    ejectPlugins: true,
    plugins: [debugProxyErrorsPlugin, proxyEventsPlugin],
    on: {
      proxyReq: (proxyReq, req) => {
        inFlight.set(req, proxyReq);
      },
      error: (err, req, res) => {
        const ctx = req.gw;
        const code = (err as NodeJS.ErrnoException).code;
        if (ctx?.timedOut) return; // already answered 504
        events.onUpstreamError?.(req, kindOf(code), err);
        if ('writeHead' in res) sendError(res as ServerResponse, ctx, unreachable(code));
        else res.destroy();
      },
    },
  });

  function onDeadline(req: IncomingMessage, res: ServerResponse): void {
    const ctx = req.gw!;
    ctx.timedOut = true;
    events.onUpstreamError?.(req, 'timeout', new Error('deadline exceeded'));
    // Answer first: destroying the upstream request then reports an error we ignore.
    if (!res.headersSent) sendError(res, ctx, Errors.upstreamTimeout());
    else res.destroy();
    inFlight.get(req)?.destroy();
  }

  // Shared listener (no closure per request): the deadline ends with the response.
  function clearDeadline(this: ServerResponse): void {
    clearTimeout(this.req.gw?.timer);
  }

  return function proxy(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const ctx = req.gw!;
    ctx.upstreamStartNs = process.hrtime.bigint();
    ctx.timer = setTimeout(onDeadline, ctx.rule!.deadlineMs, req, res);
    res.once('close', clearDeadline);
    void hpm(req, res, (err?: unknown) => {
      // Network errors were answered by the error handler above; only
      // preparation errors (a bug) reach express's error handler.
      if (err && !res.headersSent && !ctx.timedOut) next(err);
    });
  };
}
