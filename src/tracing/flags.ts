/**
 * Whether the gateway traces, and where spans go, from its flags and the
 * environment. Tracing is on unless --disable-tracing (or OTEL_SDK_DISABLED)
 * says otherwise, but only with somewhere to send spans: an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), a
 * --tracing-project-id, or a Cloud Run / App Engine service (its project's
 * Cloud Trace). Without any, it is off and costs nothing.
 */
import type { TraceContextName } from './contexts.ts';
import type { ExportTarget } from './exporter.ts';

export interface TracingFlags {
  /** --disable-tracing. */
  readonly disabled: boolean;
  /** --tracing-sample-rate: 0..1, for requests that bring no sampling decision. */
  readonly sampleRate: number;
  /** --tracing-incoming-context, in precedence order. */
  readonly incoming: readonly TraceContextName[];
  /** --tracing-outgoing-context. */
  readonly outgoing: readonly TraceContextName[];
  /** --tracing-project-id: export to this project's Cloud Trace. */
  readonly projectId?: string | undefined;
  /** --tracing-end-user: the verified end user's subject on server spans (off: it may be personal data). */
  readonly endUser?: boolean;
}

/** ESPv2's default --tracing_sample_rate. */
export const DEFAULT_SAMPLE_RATE = 0.001;

export type TracingDecision = { readonly on: true; readonly target: ExportTarget } | { readonly on: false; readonly why: string };

/** The project of a Google Cloud service: its environment, else the metadata server (never on other hosts). */
async function cloudProject(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!env.K_SERVICE && !env.GAE_SERVICE) return undefined;
  if (env.GOOGLE_CLOUD_PROJECT) return env.GOOGLE_CLOUD_PROJECT;
  try {
    const { GoogleAuth } = await import('google-auth-library');
    return await new GoogleAuth().getProjectId();
  } catch {
    return undefined;
  }
}

export async function decideTracing(flags: TracingFlags | undefined, env: NodeJS.ProcessEnv): Promise<TracingDecision> {
  if (flags === undefined || flags.disabled) return { on: false, why: '--disable-tracing' };
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return { on: false, why: 'OTEL_SDK_DISABLED' };
  if (flags.projectId) return { on: true, target: { kind: 'google', projectId: flags.projectId } };
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) return { on: true, target: { kind: 'otlp' } };
  const project = await cloudProject(env);
  if (project) return { on: true, target: { kind: 'google', projectId: project } };
  return { on: false, why: 'no destination: set OTEL_EXPORTER_OTLP_ENDPOINT or --tracing-project-id' };
}
