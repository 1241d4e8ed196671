/**
 * Where spans go, chosen the OpenTelemetry way: OTLP over HTTP configured by
 * the standard OTEL_EXPORTER_OTLP_* variables (the exporters read them
 * themselves), or, with a Google Cloud project (--tracing-project-id, or the
 * project of a Cloud Run / App Engine service), Google's OTLP endpoint for
 * Cloud Trace with the gateway's Application Default Credentials.
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace';

/** Google's OTLP/HTTP endpoint (Telemetry API), which writes into Cloud Trace. */
export const GOOGLE_OTLP_TRACES = 'https://telemetry.googleapis.com/v1/traces';

export type ExportTarget = { readonly kind: 'otlp' } | { readonly kind: 'google'; readonly projectId: string };

/** The OTLP/HTTP body encoding: OpenTelemetry's variables, protobuf unless they say JSON. */
export function otlpProtocol(env: NodeJS.ProcessEnv): 'http/protobuf' | 'http/json' {
  const p = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
  if (p === 'http/protobuf' || p === 'http/json') return p;
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL ${JSON.stringify(p)} is not supported: the gateway exports over HTTP (http/protobuf or http/json)`);
}

/** The OTLP URL the exporter will post to, for logs (the exporters resolve the same variables). */
export function otlpUrl(env: NodeJS.ProcessEnv): string {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || 'http://localhost:4318';
  return `${base.replace(/\/$/, '')}/v1/traces`;
}

export async function createExporter(target: ExportTarget, env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  if (target.kind === 'google') {
    const [{ OTLPTraceExporter }, { GoogleAuth }] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-proto'), import('google-auth-library')]);
    const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
    return new OTLPTraceExporter({
      url: GOOGLE_OTLP_TRACES,
      // Asked before each export: the library caches the token and refreshes it before it expires.
      headers: async () => {
        const h = await auth.getRequestHeaders();
        const out: Record<string, string> = { 'x-goog-user-project': target.projectId };
        h.forEach((v, k) => (out[k] = v));
        return out;
      },
    });
  }
  if (otlpProtocol(env) === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}
