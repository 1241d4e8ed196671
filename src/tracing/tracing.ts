/**
 * Tracing for the process: the OpenTelemetry SDK's provider, a bounded batch
 * processor and the exporter (./exporter.ts), and the per-request decision.
 * The decision is made once, at entry, before anything is allocated: a
 * request that is not sampled gets no span, no context object and no header
 * rewritten, so it costs two header reads and a random number. With tracing
 * off (--disable-tracing) nothing of this module is loaded at all.
 */
import type { IncomingMessage } from 'node:http';
import { ROOT_CONTEXT, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { getNumberFromEnv, parseTraceParent, TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Stage } from '../chain/stage.ts';
import { gatewayVersion } from '../gateway-version.ts';
import { parseCloudTraceContext } from './cloud-trace-context.ts';
import type { TraceContextName } from './contexts.ts';
import { createExporter, otlpUrl, GOOGLE_OTLP_TRACES, type ExportTarget } from './exporter.ts';
import { watchExporter, type WarnOnce } from './export-watch.ts';
import { RequestTrace } from './request-trace.ts';
import { traceChecks } from './checks.ts';

export interface TracingSettings {
  /** For requests that bring no sampling decision: 0..1 (ESPv2's default 0.001). */
  readonly sampleRate: number;
  readonly incoming: readonly TraceContextName[];
  readonly outgoing: readonly TraceContextName[];
  readonly target: ExportTarget;
  /** Record the verified end user's subject on the server span. */
  readonly endUser: boolean;
  /** The backend ID-token stage is on (its check span is recorded only then). */
  readonly tokens: boolean;
}

export interface Tracing {
  /** At entry: the request's trace when it is sampled, undefined otherwise. */
  start(req: IncomingMessage): RequestTrace | undefined;
  /** The chain with its checks recorded as child spans of sampled requests. */
  traceStages(stages: readonly Stage[]): readonly Stage[];
  /** The Cloud project traces are exported to, when it is Google's (the log lines' trace field). */
  readonly project: string | undefined;
  /** Where spans go, for the start-up line. */
  readonly destination: string;
  /** Exports what is queued (bounded by its timeout), then stops. */
  close(): Promise<void>;
}

/** How long export may hold shutdown: a hanging collector delays a stop by at most this. */
const CLOSE_TIMEOUT_MS = 5_000;

/** The batch processor's bounds, from OpenTelemetry's OTEL_BSP_* variables (this SDK no longer reads them itself). */
function batchBounds() {
  const maxQueueSize = getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  return {
    maxQueueSize,
    maxExportBatchSize: Math.min(maxQueueSize, getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512),
    scheduledDelayMillis: getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
    exportTimeoutMillis: getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT') ?? 10_000,
  };
}

const getter = {
  get: (h: IncomingMessage['headers'], k: string) => h[k],
  keys: (h: IncomingMessage['headers']) => Object.keys(h),
};

export async function createTracing(s: TracingSettings, warn: WarnOnce, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const google = s.target.kind === 'google' ? s.target.projectId : undefined;
  const exporter = watchExporter(await createExporter(s.target, env), warn, google ? GOOGLE_OTLP_TRACES : otlpUrl(env));
  // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the gateway's own defaults.
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: 'endpoints-gateway',
    [ATTR_SERVICE_VERSION]: gatewayVersion(),
    ...(google ? { 'gcp.project_id': google, 'cloud.provider': 'gcp', 'cloud.account.id': google } : {}),
  }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    // The gateway decides before any span exists (start below): every span it makes is sampled.
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...batchBounds() })],
  });
  const settings = { tracer: provider.getTracer('endpoints-gateway', gatewayVersion()), outgoing: s.outgoing, endUser: s.endUser, w3c: new W3CTraceContextPropagator() };
  const rate = s.sampleRate;

  /** The first incoming context present and valid, in the configured order; `decided`: it carries a sampling decision. */
  function incoming(h: IncomingMessage['headers']): { sc: SpanContext; decided: boolean } | undefined {
    for (const name of s.incoming) {
      const v = h[name];
      if (typeof v !== 'string') continue;
      if (name === 'traceparent') {
        const sc = parseTraceParent(v);
        if (sc === null) continue;
        const state = h.tracestate;
        if (typeof state === 'string') sc.traceState = new TraceState(state);
        return { sc, decided: true };
      }
      const cloud = parseCloudTraceContext(v);
      if (cloud !== undefined) return { sc: cloud.spanContext, decided: cloud.decided };
    }
    return undefined;
  }

  return {
    start(req) {
      const parent = s.incoming.length === 0 ? undefined : incoming(req.headers);
      const sampled = parent?.decided ? (parent.sc.traceFlags & TraceFlags.SAMPLED) !== 0 : rate >= 1 || (rate > 0 && Math.random() < rate);
      if (!sampled) return undefined;
      const ctx = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent.sc, traceFlags: TraceFlags.SAMPLED });
      return new RequestTrace(settings, req, ctx);
    },
    traceStages: (stages) => traceChecks(stages, s.tokens),
    project: google,
    destination: google ? `Cloud Trace (project ${google})` : otlpUrl(env),
    close: async () => {
      // Bounded: a collector that hangs must not hold the shutdown past its grace.
      await Promise.race([provider.shutdown(), new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref())]);
    },
  };
}
