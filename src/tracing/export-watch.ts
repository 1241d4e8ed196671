/**
 * Watches what the exporter reports: a collector that is down, slow or
 * refusing loses spans, never requests (export runs in the batch processor,
 * off the request path). The first failure is logged once, as a warning;
 * every lost span is counted (endpoints_gateway_trace_spans_dropped_total).
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

let dropped = 0;

/** Spans that could not be exported, process-wide (read by the metrics at scrape time). */
export function droppedSpans(): number {
  return dropped;
}

export type WarnOnce = (fields: Record<string, unknown>, msg: string) => void;

export function watchExporter(inner: SpanExporter, warn: WarnOnce, where: string): SpanExporter {
  let warned = false;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      inner.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) {
          dropped += spans.length;
          if (!warned) {
            warned = true;
            warn({ collector: where, err: result.error?.message, spans: spans.length }, 'could not export trace spans; further failures are only counted (endpoints_gateway_trace_spans_dropped_total)');
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

