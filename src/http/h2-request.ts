/**
 * HTTP/2 requests (node:http2's compatibility API) made to read as the
 * HTTP/1.1 requests every stage, the front door and the proxy are written
 * for. The compat classes already have the members they use (url, method,
 * headers, rawHeaders, socket, a readable body; setHeader, writeHead,
 * write/drain, end); what differs is the header block: HTTP/2's
 * pseudo-headers, which no HTTP/1.1 backend may receive, `:authority` in
 * place of Host, and the connection-specific headers HTTP/2 forbids in a
 * response. node:http2 builds these classes for HTTP/2 streams only, so
 * HTTP/1.1 requests pay nothing for them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';

const COLON = 58;

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2): node:http2 throws on them; the HTTP/1.1 meaning (close after this) is GOAWAY's job. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

type CompatArgs = ConstructorParameters<typeof http2.Http2ServerRequest>;

export class GatewayH2Request extends http2.Http2ServerRequest {
  constructor(...args: CompatArgs) {
    super(...args);
    const headers = this.headers;
    // The compat API reads url and method from the pseudo-headers: own values first, then drop them.
    Object.defineProperty(this, 'url', { value: headers[':path'] ?? '/', writable: true, configurable: true });
    Object.defineProperty(this, 'method', { value: headers[':method'], writable: true, configurable: true });
    // As Envoy does for an HTTP/1.1 upstream: `:authority` becomes Host.
    const authority = headers[':authority'];
    if (headers.host === undefined && typeof authority === 'string') headers.host = authority;
    for (const name of Object.keys(headers)) if (name.charCodeAt(0) === COLON) delete headers[name];
    // HTTP/2 frames a body without Content-Length; HTTP/1.1 needs one or chunked (what Envoy sends upstream),
    // and the proxy and every body reader take chunked as "a body follows".
    if (headers['content-length'] === undefined && !this.stream.endAfterHeaders) headers['transfer-encoding'] = 'chunked';
    // The underscore check reads rawHeaders: the same header set.
    const raw = this.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== COLON) kept.push(raw[i]!, raw[i + 1]!);
    Object.defineProperty(this, 'rawHeaders', { value: kept, configurable: true });
  }
}

export class GatewayH2Response extends http2.Http2ServerResponse {
  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) super.setHeader(name, value);
  }

  override writeHead(status: number, ...rest: unknown[]): this {
    const last = rest[rest.length - 1];
    if (last !== null && typeof last === 'object' && !Array.isArray(last)) {
      const headers = last as Record<string, unknown>;
      for (const name of Object.keys(headers)) if (CONNECTION_SPECIFIC.has(name.toLowerCase())) delete headers[name];
    }
    return (super.writeHead as (s: number, ...r: unknown[]) => this)(status, ...rest);
  }
}

/** The compat classes are not node:http's; they carry every member the pipeline uses (above). */
export function asHttp1(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): [IncomingMessage, ServerResponse] {
  return [req as unknown as IncomingMessage, res as unknown as ServerResponse];
}
