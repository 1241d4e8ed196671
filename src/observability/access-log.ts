import type { IncomingMessage } from 'node:http';
import { lineWriter, logOutputOf, type Logger } from './logger.ts';
import { traceId } from './trace.ts';
import { ALWAYS_SECRET_PARAMS, HEADER_SYNTAX, redactSecrets, secretNames, URL_SYNTAX } from './redact.ts';
import type { LogFieldWriter } from './log-fields.ts';
import type { RequestTrace } from '../tracing/request-trace.ts';
import type { Snapshot } from '../runtime/snapshot.ts';
import type { Operation } from '../config/types.ts';

export { ALWAYS_SECRET_PARAMS } from './redact.ts';

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
  /** --log-request-headers, --log-response-headers, --log-jwt-payloads; undefined: none named. */
  readonly fields?: LogFieldWriter | undefined;
  /** --workers: this process's slot (1..N), in every line as the other log lines carry it. */
  readonly worker?: number | undefined;
}

/** How an exchange ended, as the recorder (src/http/record.ts) saw it. */
export interface Outcome {
  /** The status answered (101 for an opened WebSocket; 0 when the client left before any answer). */
  readonly status: number;
  /** Response bytes: Content-Length when there was one, else the bytes relayed. */
  readonly size: number;
  /** false when the response was cut or abandoned before its end. */
  readonly complete: boolean;
}

/** Names the gateway always redacts, for a request that never got a snapshot. */
const DEFAULT_SECRETS = secretNames(ALWAYS_SECRET_PARAMS);

const q = JSON.stringify;

/**
 * The ISO timestamp. Date#toISOString ran for nearly every line (a new
 * millisecond each time under load); its part up to the seconds is formatted
 * once per second and the milliseconds appended.
 */
let secondStart = 0;
let secondPrefix = '';
function now(): string {
  const ms = Date.now();
  let offset = ms - secondStart;
  if (offset < 0 || offset >= 1000) {
    offset = ms % 1000;
    secondStart = ms - offset;
    // 'YYYY-MM-DDTHH:MM:SS.' of the second's start.
    secondPrefix = new Date(secondStart).toISOString().slice(0, 20);
  }
  return `${secondPrefix}${offset < 10 ? '00' : offset < 100 ? '0' : ''}${offset}Z`;
}

/*
 * Fields that repeat from line to line, quoted once rather than per line:
 * the snapshot's (one at a time), each operation's, the last consumer project.
 */
let fieldsOf: Snapshot | undefined;
let snapshotText = '';
function snapshotFields(s: Snapshot): string {
  if (s !== fieldsOf) {
    fieldsOf = s;
    snapshotText = `,"configId":${q(s.configId)}` + (s.serviceLabel !== undefined ? `,"service":${q(s.serviceLabel)}` : '');
  }
  return snapshotText;
}
const operationText = new WeakMap<Operation, string>();
function operationField(op: Operation): string {
  let text = operationText.get(op);
  if (text === undefined) {
    text = `,"operation":${q(op.id)}`;
    operationText.set(op, text);
  }
  return text;
}
let lastProject = '';
let projectText = '';
function projectField(project: string): string {
  if (project !== lastProject) {
    lastProject = project;
    projectText = `,"consumerProject":${q(project)}`;
  }
  return projectText;
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
  const { logger, traceProject, fields } = opts;
  const write = lineWriter(logger);
  const workerField = opts.worker === undefined ? '' : `,"worker":${opts.worker}`;
  const output = logOutputOf(logger);
  return function accessLog(req: IncomingMessage, outcome: Outcome): void {
    const status = outcome.status;
    const warn = status >= 500;
    if (!logger.isLevelEnabled(warn ? 'warn' : 'info')) return;
    // Before any formatting: a line that cannot be written costs nothing.
    if (output?.shedAccessLine()) return;
    const ctx = req.gw;
    // What the client asked for (the chain rewrites req.url for the backend).
    const url = ctx?.url || req.url || '/';
    const latency = ctx ? Number(process.hrtime.bigint() - ctx.startNs) / 1e9 : 0;
    const size = outcome.size;
    const rawUa = headerValue(req.headers['user-agent']);
    // The names of the spec that handled this request, normalized once when its snapshot was built.
    const secrets = ctx?.snapshot?.secretNames ?? DEFAULT_SECRETS;
    const ua = rawUa === undefined ? undefined : redactSecrets(rawUa, secrets, HEADER_SYNTAX);
    let line =
      `{"severity":"${warn ? 'WARNING' : 'INFO'}","time":"${now()}","message":"request","httpRequest":{` +
      `"requestMethod":${q(req.method)},"requestUrl":${q(redactUrl(url, secrets))},"status":${status},` +
      `"responseSize":"${size}","latency":"${latency.toFixed(6)}s","remoteIp":${q(ctx?.remoteIp || req.socket.remoteAddress || '')},` +
      (ua !== undefined ? `"userAgent":${q(ua)},` : '') +
      `"protocol":"HTTP/${req.httpVersion}"}`;
    if (ctx?.requestId) line += `,"requestId":${q(ctx.requestId)}`;
    line += workerField;
    if (ctx?.snapshot) line += snapshotFields(ctx.snapshot);
    if (ctx?.op) line += operationField(ctx.op);
    if (ctx?.consumerProject) line += projectField(ctx.consumerProject);
    if (ctx?.keyFingerprint) line += `,"keyFingerprint":"${ctx.keyFingerprint}"`;
    if (ctx?.endUser !== undefined) line += `,"endUser":${q(ctx.endUser)}`;
    if (ctx?.reason) line += `,"reason":"${ctx.reason}"`;
    if (!outcome.complete) line += ',"aborted":true';
    if (fields !== undefined) line += fields(req, secrets);
    line += traceFields(ctx?.trace, req, traceProject);
    write(`${line}}\n`);
  };
}

/**
 * Cloud Logging's fields that join a line to its trace: the trace (with the
 * project when known), and for a request the gateway traced, its server span
 * and that it was sampled. Untraced requests keep the caller's trace id.
 */
export function traceFields(trace: RequestTrace | undefined, req: IncomingMessage, project: string | undefined): string {
  if (trace !== undefined) {
    const id = trace.traceId;
    return (
      (project ? `,"logging.googleapis.com/trace":"projects/${project}/traces/${id}"` : `,"logging.googleapis.com/trace":"${id}"`) +
      `,"logging.googleapis.com/spanId":"${trace.spanId}","logging.googleapis.com/trace_sampled":true`
    );
  }
  const id = project ? traceId(req.headers) : undefined;
  return id ? `,"logging.googleapis.com/trace":${q(`projects/${project}/traces/${id}`)}` : '';
}

/** The same fields for a pino line (the gateway's warnings and errors about a request). */
export function traceLogFields(trace: RequestTrace | undefined, project: string | undefined): Record<string, unknown> | undefined {
  if (trace === undefined) return undefined;
  return {
    'logging.googleapis.com/trace': project ? `projects/${project}/traces/${trace.traceId}` : trace.traceId,
    'logging.googleapis.com/spanId': trace.spanId,
    'logging.googleapis.com/trace_sampled': true,
  };
}
