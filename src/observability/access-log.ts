import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './logger.ts';
import { traceId } from './trace.ts';

/** Query parameters that carry credentials in every spec (ESP's key names and JWT's access_token). */
export const ALWAYS_SECRET_PARAMS: readonly string[] = ['key', 'api_key', 'access_token'];

/**
 * Replaces the values of credential-carrying query parameters. Names are
 * compared after percent-decoding so `%6Bey=` is caught too.
 */
export function redactUrl(url: string, secret: ReadonlySet<string>): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url.slice(q + 1).split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf('=');
    const rawName = eq < 0 ? p : p.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      /* keep raw */
    }
    if (secret.has(name) && eq >= 0) {
      parts[i] = `${rawName}=REDACTED`;
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${parts.join('&')}` : url;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export interface AccessLogOptions {
  readonly logger: Logger;
  /** The Google Cloud project whose Cloud Trace the trace ids belong to, when known. */
  readonly traceProject: string | undefined;
  /** Credential-carrying query parameter names of the spec in force. */
  readonly secretParams: () => ReadonlySet<string>;
}

/**
 * One line per request in Cloud Logging's shape (`httpRequest`, `severity`,
 * `logging.googleapis.com/trace`). The key never appears: the URL is redacted
 * and the key is identified by a fingerprint of its hash. pino serializes and
 * writes asynchronously, so this never blocks the request path.
 */
export function createAccessLog(opts: AccessLogOptions) {
  const { logger, traceProject } = opts;
  return function accessLog(req: IncomingMessage, res: ServerResponse): void {
    const ctx = req.gw;
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const latencyNs = ctx ? process.hrtime.bigint() - ctx.startNs : 0n;
    const entry: Record<string, unknown> = {
      httpRequest: {
        requestMethod: req.method,
        requestUrl: redactUrl(url, opts.secretParams()),
        status: res.statusCode,
        responseSize: String(Number(res.getHeader('content-length') ?? 0) || 0),
        latency: `${(Number(latencyNs) / 1e9).toFixed(6)}s`,
        remoteIp: req.socket.remoteAddress,
        userAgent: headerValue(req.headers['user-agent']),
        protocol: `HTTP/${req.httpVersion}`,
      },
      operation: ctx?.op?.id,
      consumerProject: ctx?.consumerProject || undefined,
      keyFingerprint: ctx?.keyFingerprint,
      reason: ctx?.reason,
    };
    if (!res.writableFinished) entry.aborted = true;
    const trace = traceProject ? traceId(req.headers) : undefined;
    if (trace) entry['logging.googleapis.com/trace'] = `projects/${traceProject}/traces/${trace}`;
    const level = res.statusCode >= 500 ? 'warn' : 'info';
    logger[level](entry, 'request');
  };
}
