import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../context.ts';
import { Errors, type GatewayError } from '../errors.ts';

/**
 * Bounds a stage that waits for the caller (the body read for validation) by
 * the operation's deadline, which then keeps counting in the proxy
 * (ctx.deadlineStartNs). At the deadline the caller gets ESP's 504, the
 * request is cut once that answer is out, and whatever the stage had read is
 * released with it: a body that stops one byte short holds nothing.
 */
export function withDeadline(req: IncomingMessage, ctx: RequestContext, work: Promise<GatewayError | undefined>): Promise<GatewayError | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ctx.timedOut = true;
      const res = (req as IncomingMessage & { res?: import('node:http').ServerResponse }).res;
      // Once the 504 is written, the unread body has no reader left: cut the connection so its bytes are freed.
      if (res) res.once('finish', () => req.destroy());
      else req.destroy();
      resolve(Errors.upstreamTimeout());
    }, ctx.op!.backend.deadlineMs);
    work.then(
      (v) => {
        clearTimeout(timer);
        if (!ctx.timedOut) resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!ctx.timedOut) reject(err);
      },
    );
  });
}
