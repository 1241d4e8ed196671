import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { logOutputOf, type Logger } from './logger.ts';
import { traceId } from './trace.ts';
import { HEADER_SYNTAX, redactSecrets, secretNames, URL_SYNTAX } from './redact.ts';

/** Query parameters that carry credentials in every spec (ESP's key names and JWT's access_token). */
export const ALWAYS_SECRET_PARAMS: readonly string[] = ['key', 'api_key', 'access_token'];

/**
 * The URL as logged: values of credential parameters (the spec's own names
 * and the common ones, in any case, after `?`, `&` or `;`) and anything shaped
 * like a Google API key are replaced by `REDACTED`. `secret` is in
 * `secretNames` form.
 */
export function redactUrl(url: string, secret: ReadonlySet<string>): string {
  return redactSecrets(url, secret, URL_SYNTAX);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export interface AccessLogOptions {
  readonly logger: Logger;
  /** The Google Cloud project whose Cloud Trace ids belong to, when known. */
  readonly traceProject: string | undefined;
  /** Credential-carrying query parameter names of the spec in force. */
  readonly secretParams: () => ReadonlySet<string>;
}

const q = JSON.stringify;

/** The ISO timestamp, formatted at most once per millisecond. */
let isoMs = 0;
let iso = '';
function now(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

/**
 * One line per request in Cloud Logging's shape (`severity`, `time`,
 * `httpRequest`, `logging.googleapis.com/trace`). The key never appears: the
 * URL is redacted and the key is identified by a fingerprint of its hash.
 *
 * This runs for every request, so the line is formatted here, directly, and
 * handed to the logger's own asynchronous destination: the same JSON a
 * `logger.info(...)` call would produce, at a fraction of the cost.
 */
export function createAccessLog(opts: AccessLogOptions) {
  const { logger, traceProject } = opts;
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym]!;
  const output = logOutputOf(logger);
  // The spec's names change only on a reload: normalized once per set, not per request.
  let specNames: ReadonlySet<string> | undefined;
  let names = secretNames();
  const secret = (): ReadonlySet<string> => {
    const current = opts.secretParams();
    if (current !== specNames) {
      specNames = current;
      names = secretNames(current);
    }
    return names;
  };
  return function accessLog(req: IncomingMessage, res: ServerResponse): void {
    const status = res.statusCode;
    const warn = status >= 500;
    if (!logger.isLevelEnabled(warn ? 'warn' : 'info')) return;
    // Before any formatting: a line that cannot be written costs nothing.
    if (output?.shedAccessLine()) return;
    const ctx = req.gw;
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const latency = ctx ? Number(process.hrtime.bigint() - ctx.startNs) / 1e9 : 0;
    // Content-Length when there is one (HEAD answers included); else the bytes relayed (chunked).
    const size = Math.max(Number(res.getHeader('content-length') ?? 0) || 0, ctx?.responseBytes ?? 0);
    const rawUa = headerValue(req.headers['user-agent']);
    const secrets = secret();
    const ua = rawUa === undefined ? undefined : redactSecrets(rawUa, secrets, HEADER_SYNTAX);
    let line =
      `{"severity":"${warn ? 'WARNING' : 'INFO'}","time":"${now()}","message":"request","httpRequest":{` +
      `"requestMethod":${q(req.method)},"requestUrl":${q(redactUrl(url, secrets))},"status":${status},` +
      `"responseSize":"${size}","latency":"${latency.toFixed(6)}s","remoteIp":${q(req.socket.remoteAddress ?? '')},` +
      (ua !== undefined ? `"userAgent":${q(ua)},` : '') +
      `"protocol":"HTTP/${req.httpVersion}"}`;
    if (ctx?.requestId) line += `,"requestId":${q(ctx.requestId)}`;
    if (ctx?.op) line += `,"operation":${q(ctx.op.id)}`;
    if (ctx?.consumerProject) line += `,"consumerProject":${q(ctx.consumerProject)}`;
    if (ctx?.keyFingerprint) line += `,"keyFingerprint":"${ctx.keyFingerprint}"`;
    if (ctx?.endUser !== undefined) line += `,"endUser":${q(ctx.endUser)}`;
    if (ctx?.reason) line += `,"reason":"${ctx.reason}"`;
    if (!res.writableFinished) line += ',"aborted":true';
    const trace = traceProject ? traceId(req.headers) : undefined;
    if (trace) line += `,"logging.googleapis.com/trace":${q(`projects/${traceProject}/traces/${trace}`)}`;
    stream.write(`${line}}\n`);
  };
}
