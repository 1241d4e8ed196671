/**
 * The trace-context formats the gateway reads and writes, named as ESPv2's
 * --tracing_incoming_context / --tracing_outgoing_context name them, in the
 * order given: on the way in, the first one present and valid wins.
 */
export const TRACE_CONTEXTS = ['traceparent', 'x-cloud-trace-context'] as const;
export type TraceContextName = (typeof TRACE_CONTEXTS)[number];

/** ESPv2's default for both flags. */
export const DEFAULT_TRACE_CONTEXTS = 'traceparent,x-cloud-trace-context';

/** Parses a comma-separated list; throws ESPv2's error text for a name it does not know. */
export function parseTraceContexts(list: string): TraceContextName[] {
  const out: TraceContextName[] = [];
  for (const raw of list.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (!(TRACE_CONTEXTS as readonly string[]).includes(name)) throw new Error(`Invalid trace context: ${raw.trim()}`);
    if (!out.includes(name as TraceContextName)) out.push(name as TraceContextName);
  }
  return out;
}
