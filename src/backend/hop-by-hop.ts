import type { IncomingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers belong to one connection, not to the message (RFC 9110
 * 7.6.1): the gateway removes them in both directions, as Envoy does. Request
 * side: `Connection` and every header it names, `Keep-Alive`,
 * `Proxy-Connection`, `TE` (except `TE: trailers`), `Trailer`, and `Upgrade`
 * unless this is an upgrade (WebSockets keep `Upgrade` and `Connection:
 * upgrade`). `Transfer-Encoding` and `Expect` are left for the forwarding
 * stage, which needs them to frame the body it sends.
 */
export function dropHopByHop(headers: IncomingHttpHeaders): void {
  const conn = headers.connection;
  let upgrade = false;
  if (conn !== undefined) {
    // Most clients send just `keep-alive` or `close`: no parsing needed for those.
    if (conn !== 'keep-alive' && conn !== 'close' && conn !== 'Keep-Alive') {
      for (const token of conn.split(',')) {
        const name = token.trim().toLowerCase();
        if (name === 'upgrade') upgrade = true;
        else if (name !== '') delete headers[name];
      }
    }
    if (upgrade && headers.upgrade !== undefined) headers.connection = 'upgrade';
    else delete headers.connection;
  }
  if (!upgrade && headers.upgrade !== undefined) delete headers.upgrade;
  if (headers['keep-alive'] !== undefined) delete headers['keep-alive'];
  if (headers['proxy-connection'] !== undefined) delete headers['proxy-connection'];
  if (headers.trailer !== undefined) delete headers.trailer;
  const te = headers.te;
  if (te !== undefined && (typeof te !== 'string' || te.trim().toLowerCase() !== 'trailers')) delete headers.te;
}

/** Never forwarded in a response: the hop-by-hop set, plus `Proxy-Authenticate` (meant for the next proxy only, RFC 9110 11.7.1; the gateway is that proxy). */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'te', 'upgrade', 'proxy-authenticate']);

/**
 * The same policy on a backend's response head (undici's parsed headers):
 * a copy without the hop-by-hop headers and those `Connection` names. The
 * client's message is re-framed by Node, so `Transfer-Encoding` goes too; a
 * stray `Trailer:` would also make Node refuse a Content-Length response.
 * A copy rather than deletes: deleting turned the object into a slow
 * dictionary that writeHead then walked (1.5 µs per response measured).
 */
export function withoutResponseHopByHop(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const conn = headers.connection;
  let named: string[] | undefined;
  if (conn !== undefined) {
    const value = Array.isArray(conn) ? conn.join(',') : conn;
    if (value !== 'keep-alive' && value !== 'close') named = value.split(',').map((token) => token.trim().toLowerCase());
  }
  const out: Record<string, string | string[] | undefined> = {};
  for (const name in headers) {
    if (RESPONSE_HOP_BY_HOP.has(name) || (named !== undefined && named.includes(name))) continue;
    out[name] = headers[name];
  }
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A request's Transfer-Encoding: `ok` for `chunked` alone, `unsupported` for a
 * well-formed list that ends in `chunked` but carries other codings (we cannot
 * forward them: undici frames the body itself), `malformed` for anything else
 * (`chunked, chunked`, `gzip`, `xchunked`, an empty element). Node's parser
 * already refuses some of these; the rest stop here and are never forwarded.
 */
export function checkTransferEncoding(value: string): 'ok' | 'unsupported' | 'malformed' {
  if (value === 'chunked') return 'ok';
  const parts = value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const coding = parts[i]!.trim();
    const name = (coding.includes(';') ? coding.slice(0, coding.indexOf(';')).trim() : coding).toLowerCase();
    if (!TOKEN.test(name)) return 'malformed';
    const last = i === parts.length - 1;
    if ((name === 'chunked') !== last || (last && coding.toLowerCase() !== 'chunked')) return 'malformed';
  }
  return parts.length === 1 ? 'ok' : 'unsupported';
}
