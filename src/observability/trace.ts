import type { IncomingHttpHeaders } from 'node:http';

/**
 * The trace id of a request, from Google's `X-Cloud-Trace-Context`
 * (`TRACE_ID/SPAN_ID;o=1`) or W3C `traceparent` (`00-TRACE_ID-SPAN_ID-01`).
 * Both headers are forwarded to backends untouched; this only reads them for logs.
 */
export function traceId(headers: IncomingHttpHeaders): string | undefined {
  const cloud = headers['x-cloud-trace-context'];
  if (typeof cloud === 'string') {
    const slash = cloud.indexOf('/');
    const id = slash < 0 ? cloud : cloud.slice(0, slash);
    if (/^[0-9a-fA-F]{32}$/.test(id)) return id.toLowerCase();
  }
  const parent = headers.traceparent;
  if (typeof parent === 'string') {
    const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(parent.trim());
    if (m && m[1] !== '00000000000000000000000000000000') return m[1];
  }
  return undefined;
}
