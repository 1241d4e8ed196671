/**
 * Google's `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS`: a 32-hex trace
 * id, a decimal 64-bit span id, and `o=1` when the caller traced the request.
 * No maintained OpenTelemetry propagator for it is installed, so the format is
 * read and written here, to and from OpenTelemetry's SpanContext.
 */
import { TraceFlags, type SpanContext } from '@opentelemetry/api';

const HEADER = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=([0-9]+))?$/;
const INVALID_TRACE = '00000000000000000000000000000000';

/** What the header says; `decided` is false when it carries no `o=` (the gateway's own rate then applies). */
export interface CloudTraceParent {
  readonly spanContext: SpanContext;
  readonly decided: boolean;
}

export function parseCloudTraceContext(value: string): CloudTraceParent | undefined {
  const m = HEADER.exec(value.trim());
  if (m === null) return undefined;
  const traceId = m[1]!.toLowerCase();
  if (traceId === INVALID_TRACE) return undefined;
  let spanId = '0000000000000001';
  if (m[2] !== undefined) {
    const n = BigInt(m[2]);
    if (n === 0n || n >= 1n << 64n) return undefined;
    spanId = n.toString(16).padStart(16, '0');
  }
  const sampled = m[3] !== undefined && (Number(m[3]) & 1) === 1;
  return { spanContext: { traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true }, decided: m[3] !== undefined };
}

/** The header naming `span` as the parent, sampled (only sampled requests are propagated by the gateway). */
export function formatCloudTraceContext(traceId: string, spanId: string): string {
  return `${traceId}/${BigInt(`0x${spanId}`).toString(10)};o=1`;
}
