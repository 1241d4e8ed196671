import type { BackendRule, Operation } from './config/types.ts';

/** What the pipeline decided about one request; read by the proxy and the access log. */
export interface RequestContext {
  readonly startNs: bigint;
  op: Operation | undefined;
  rule: BackendRule | undefined;
  /** Consumer project of a verified key ('' when none). */
  consumerProject: string;
  /** Short fingerprint of the key's hash, for logs (never the key). */
  keyFingerprint: string | undefined;
  /** Set when the pipeline answered itself (an ESP error), for logs and metrics. */
  reason: string | undefined;
  /** X-Request-Id: the caller's, one derived from its trace context, or generated ('' until assigned). */
  requestId: string;
  /** Verified end user's subject (a JWT's `sub`; a sign-in session may set it too), for the access log. */
  endUser: string | undefined;
  upstreamStartNs: bigint;
  /** Backend body bytes sent to the client: the access log's size for chunked responses. */
  responseBytes: number;
  timer: NodeJS.Timeout | undefined;
  timedOut: boolean;
}

declare module 'node:http' {
  interface IncomingMessage {
    gw?: RequestContext;
  }
}

export function newContext(): RequestContext {
  return {
    startNs: process.hrtime.bigint(),
    op: undefined,
    rule: undefined,
    consumerProject: '',
    keyFingerprint: undefined,
    reason: undefined,
    requestId: '',
    endUser: undefined,
    upstreamStartNs: 0n,
    responseBytes: 0,
    timer: undefined,
    timedOut: false,
  };
}
