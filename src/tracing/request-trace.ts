/**
 * One sampled request's spans: the server span (the gateway's hop) with an
 * event per check that applied, and a client span per backend attempt. Only
 * sampled requests get one (src/tracing/tracing.ts decides at entry); every
 * caller tests `ctx.trace !== undefined` and does nothing else otherwise.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { Operation } from '../config/types.ts';
import type { BackendRule } from '../config/types.ts';
import { formatCloudTraceContext } from './cloud-trace-context.ts';
import type { TraceContextName } from './contexts.ts';

/**
 * What the server span records of the request context (src/context.ts), named here so that the
 * context, which holds a RequestTrace, and this module do not import each other.
 */
export interface ExchangeFacts {
  readonly op: Pick<Operation, 'id' | 'method' | 'template'> | undefined;
  readonly path: string | null;
  readonly consumerProject: string;
  readonly endUser: string | undefined;
  readonly reason: string | undefined;
}

/** Attributes of the gateway's own (not in OpenTelemetry's conventions). */
export const ATTR_OPERATION = 'endpoints.operation_id';
export const ATTR_CONSUMER_PROJECT = 'endpoints.consumer_project';
export const ATTR_CACHE = 'endpoints.cache';
/** How long a check took, in milliseconds (checks are events, which have a time but no duration). */
export const ATTR_CHECK_MS = 'endpoints.duration_ms';
/** The attempt's reset reason when it failed (Envoy's reset reasons: reset, connect_refused, timeout, ...). */
export const ATTR_RESET_REASON = 'endpoints.reset_reason';
const ATTR_ENDUSER_ID = 'enduser.id';

/** What every request's trace shares, fixed at start-up. */
export interface TraceSettings {
  readonly tracer: Tracer;
  readonly outgoing: readonly TraceContextName[];
  /** Record the verified end user's subject (enduser.id). */
  readonly endUser: boolean;
  readonly w3c: W3CTraceContextPropagator;
}

/** One backend attempt's client span (a retry is a new one). */
export class AttemptSpan {
  readonly span: Span;
  private ended = false;

  constructor(span: Span) {
    this.span = span;
  }

  /** The status the backend answered this attempt with. */
  status(code: number): void {
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, code);
    if (code >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR });
  }

  /** The attempt failed or was given up: `reason` says why (a reset reason, 'retried', 'abandoned'). */
  fail(reason: string): void {
    if (this.ended) return;
    this.span.setAttribute(ATTR_RESET_REASON, reason);
    this.span.setAttribute(ATTR_ERROR_TYPE, reason);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

export class RequestTrace {
  readonly server: Span;
  /** The server span as a parent, for every child span. */
  private readonly parent: Context;
  private readonly s: TraceSettings;
  private open: AttemptSpan[] | undefined = undefined;

  constructor(s: TraceSettings, req: IncomingMessage, parentContext: Context) {
    this.s = s;
    const method = req.method ?? 'GET';
    this.server = s.tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_SCHEME]: 'http',
          [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
          [ATTR_CLIENT_ADDRESS]: req.socket.remoteAddress ?? '',
        },
      },
      parentContext,
    );
    this.parent = trace.setSpan(ROOT_CONTEXT, this.server);
  }

  get traceId(): string {
    return this.server.spanContext().traceId;
  }

  get spanId(): string {
    return this.server.spanContext().spanId;
  }

  /**
   * A check that ran from `start` for `ms`, as an event of the server span (at its start, with its
   * duration): events cost a fraction of child spans (no ids, no export record of their own), and
   * at 100 % sampling every request has three or four checks. `refusal` is the reason it refused.
   */
  check(name: string, start: HrTime, ms: number, cache: 'hit' | 'miss' | undefined, refusal: string | undefined): void {
    const attributes: Attributes = { [ATTR_CHECK_MS]: ms };
    if (cache !== undefined) attributes[ATTR_CACHE] = cache;
    if (refusal !== undefined) attributes[ATTR_ERROR_TYPE] = refusal;
    this.server.addEvent(name, attributes, start);
  }

  /** Starts attempt `n` (1 for the first try) and names it as the parent in the backend's trace headers. */
  attempt(headers: IncomingHttpHeaders, n: number, rule: BackendRule, method: string): AttemptSpan {
    const span = this.s.tracer.startSpan(
      method,
      {
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_SERVER_ADDRESS]: rule.hostname, [ATTR_SERVER_PORT]: rule.port, [ATTR_URL_SCHEME]: rule.scheme },
      },
      this.parent,
    );
    if (n > 1) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, n - 1);
    const sc = span.spanContext();
    for (const name of this.s.outgoing) {
      if (name === 'traceparent') this.s.w3c.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
      else headers['x-cloud-trace-context'] = formatCloudTraceContext(sc.traceId, sc.spanId);
    }
    const a = new AttemptSpan(span);
    (this.open ??= []).push(a);
    return a;
  }

  /** The exchange is over (src/http/record.ts): what it became, then the server span ends. */
  end(ctx: ExchangeFacts, status: number, complete: boolean): void {
    const span = this.server;
    const op = ctx.op;
    // One setAttributes call: the SDK validates each call's attributes.
    const a: Attributes = {};
    if (op !== undefined) {
      span.updateName(`${op.method} ${op.template}`);
      a[ATTR_HTTP_ROUTE] = op.template;
      a[ATTR_OPERATION] = op.id;
    }
    if (ctx.path !== null) a[ATTR_URL_PATH] = ctx.path;
    if (ctx.consumerProject) a[ATTR_CONSUMER_PROJECT] = ctx.consumerProject;
    if (this.s.endUser && ctx.endUser !== undefined) a[ATTR_ENDUSER_ID] = ctx.endUser;
    if (status > 0) a[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    const reason = ctx.reason ?? (complete ? undefined : 'aborted');
    if (reason !== undefined) a[ATTR_ERROR_TYPE] = reason;
    span.setAttributes(a);
    // A server span is an error for a 5xx (OpenTelemetry's HTTP conventions); a refusal's reason is in error.type.
    if (status >= 500 || status === 0) span.setStatus({ code: SpanStatusCode.ERROR, ...(reason !== undefined ? { message: reason } : {}) });
    if (this.open !== undefined) for (const a of this.open) a.fail('abandoned');
    span.end();
  }
}
