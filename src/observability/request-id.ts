import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** The header that carries a request's id: taken from the caller, sent to the backend, returned to the client. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's id is kept only when it is short visible ASCII: it goes into logs and headers as is. */
const ACCEPTABLE = /^[\x21-\x7e]{1,200}$/;
/** ...and holds nothing shaped like a Google API key or a credential parameter: logs never hold one. */
const CREDENTIAL_LIKE = /AIza[0-9A-Za-z_-]{35}|(?:key|token)=/i;
const CLOUD_TRACE = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The id of a request: the caller's `X-Request-Id`; else one derived from the
 * trace context the front end set (`X-Cloud-Trace-Context` on Cloud Run,
 * `traceparent` elsewhere: trace id and span id, one per hop); else a new UUID.
 */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = one(headers[REQUEST_ID_HEADER])?.trim();
  if (given !== undefined && ACCEPTABLE.test(given) && !CREDENTIAL_LIKE.test(given)) return given;
  const cloud = one(headers['x-cloud-trace-context']);
  if (cloud !== undefined) {
    const m = CLOUD_TRACE.exec(cloud.trim());
    if (m) return m[2] ? `${m[1]!.toLowerCase()}-${m[2]}` : m[1]!.toLowerCase();
  }
  const parent = one(headers.traceparent);
  if (parent !== undefined) {
    const m = TRACEPARENT.exec(parent.trim());
    if (m && m[1] !== '00000000000000000000000000000000') return `${m[1]}-${m[2]}`;
  }
  return randomUUID();
}

/** Gives the request its id and puts it in the headers the backend receives; returns the id. */
export function assignRequestId(req: IncomingMessage): string {
  const id = requestIdOf(req.headers);
  req.headers[REQUEST_ID_HEADER] = id;
  return id;
}
