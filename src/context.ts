import type { IncomingMessage } from 'node:http';
import type { BackendRule, Operation } from './config/types.ts';
import type { VerifiedJwt } from './auth/jwt/authenticator.ts';
import type { Snapshot } from './runtime/snapshot.ts';
import type { RequestTrace } from './tracing/request-trace.ts';

/**
 * One exchange as the gateway sees it: made at entry, filled in by the chain's
 * stages in order, read by the proxy and, once, by the recorder. Every field
 * exists from the start (one object shape for V8).
 */
export interface RequestContext {
  readonly startNs: bigint;
  /** The config this request is handled by, taken once at entry. */
  snapshot: Snapshot | undefined;
  /** The URL as the client sent it (the chain rewrites req.url for the backend). */
  url: string;
  /** The peer's address, read at entry: an upgraded socket may be gone when the exchange is logged. */
  readonly remoteIp: string;
  /** The path after normalization (src/routing/normalize.ts); null when it cannot be normalized. */
  path: string | null;
  /** Everything after the first `?`, as sent. */
  rawQuery: string | undefined;
  op: Operation | undefined;
  /** Path template variables of the matched operation. */
  bindings: ReadonlyArray<readonly [string, string]>;
  rule: BackendRule | undefined;
  /** A verified end user (JWT and/or sign-in session). */
  user: VerifiedJwt | undefined;
  /** Whether the API key stage must run (decided by the security requirement). */
  keyNeeded: boolean;
  /** Hash of a verified key: quota is counted per key where the spec says so. */
  keyHash: string | undefined;
  /** Consumer project of a verified key ('' when none). */
  consumerProject: string;
  /** Short fingerprint of the key's hash, for logs (never the key). */
  keyFingerprint: string | undefined;
  /** Set when the gateway answered itself (an ESP error), for logs and metrics. */
  reason: string | undefined;
  /** X-Request-Id: the caller's, one derived from its trace context, or generated ('' until assigned). */
  requestId: string;
  /** Verified end user's subject (a JWT's `sub`; a sign-in session may set it too), for the access log. */
  endUser: string | undefined;
  /** When the operation's deadline started counting (0n: at the proxy); it covers a body read for validation. */
  deadlineStartNs: bigint;
  upstreamStartNs: bigint;
  /** Backend body bytes sent to the client: the access log's size for chunked responses. */
  responseBytes: number;
  timer: NodeJS.Timeout | undefined;
  timedOut: boolean;
  /** Recorded already (the access-log line and the count are written once per exchange). */
  recorded: boolean;
  /** The request's spans when tracing is on and it is sampled (src/tracing/); undefined otherwise. */
  trace: RequestTrace | undefined;
}

declare module 'node:http' {
  interface IncomingMessage {
    gw?: RequestContext;
  }
}

const NO_BINDINGS: ReadonlyArray<readonly [string, string]> = [];

export function newContext(req?: IncomingMessage): RequestContext {
  return {
    startNs: process.hrtime.bigint(),
    snapshot: undefined,
    url: req?.url ?? '',
    remoteIp: req?.socket.remoteAddress ?? '',
    path: null,
    rawQuery: undefined,
    op: undefined,
    bindings: NO_BINDINGS,
    rule: undefined,
    user: undefined,
    keyNeeded: false,
    keyHash: undefined,
    consumerProject: '',
    keyFingerprint: undefined,
    reason: undefined,
    requestId: '',
    endUser: undefined,
    deadlineStartNs: 0n,
    upstreamStartNs: 0n,
    responseBytes: 0,
    timer: undefined,
    timedOut: false,
    recorded: false,
    trace: undefined,
  };
}
