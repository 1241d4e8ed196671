/**
 * The one place where every exchange is recorded: proxied, refused, answered
 * by the gateway itself (health, docs, sign-in routes) or upgraded. Each gets
 * its access-log line and its count exactly once, when it is over (its
 * response finished, or its connection gone).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Outcome } from '../observability/access-log.ts';

export interface Recorder {
  /** Records the request when its response is over (finished or aborted). */
  track(res: ServerResponse): void;
  /** An upgrade, once its client connection is gone: 101 for an opened WebSocket, the status answered, or 0. */
  upgrade(req: IncomingMessage, status: number): void;
}

export function createRecorder(
  accessLog: ((req: IncomingMessage, outcome: Outcome) => void) | undefined,
  metrics: GatewayMetrics | undefined,
  tracing = false,
): Recorder {
  const record = (req: IncomingMessage, outcome: Outcome): void => {
    const ctx = req.gw;
    if (ctx === undefined || ctx.recorded) return;
    ctx.recorded = true;
    metrics?.observe(req, outcome.status);
    // Before the log line: the server span's end is what the line's span id names.
    ctx.trace?.end(ctx, outcome.status, outcome.complete);
    accessLog?.(req, outcome);
  };
  // One shared listener (no closure per request); 'close' also fires for aborted requests.
  function onClose(this: ServerResponse): void {
    // Content-Length when there is one (HEAD answers included); else the bytes relayed (chunked).
    const size = Math.max(Number(this.getHeader('content-length') ?? 0) || 0, this.req.gw?.responseBytes ?? 0);
    record(this.req, { status: this.statusCode, size, complete: this.writableFinished });
  }
  const nothing = accessLog === undefined && metrics === undefined && !tracing;
  return {
    track(res) {
      // on, not once: 'close' fires once, record() is guarded anyway, and once wraps and later removes the listener per request.
      if (!nothing) res.on('close', onClose);
    },
    upgrade(req, status) {
      record(req, { status, size: 0, complete: status !== 0 });
    },
  };
}
