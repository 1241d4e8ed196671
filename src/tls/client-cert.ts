/**
 * The verified client certificate of an mTLS listener, for the backend: one
 * header of the gateway's own, modelled on Envoy's x-forwarded-client-cert
 * (ESPv2 has none): `Hash=<sha256 of the DER>;Subject="<RFC 2253 subject>"`
 * then one `URI=` and one `DNS=` per subject alternative name. A caller's
 * copy never reaches a backend (the chain's header sanitizing drops it).
 * Computed once per connection: every request on it shares the value.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Http2Stream } from 'node:http2';

export const CLIENT_CERT_HEADER = 'x-endpoints-client-cert';

/** What one connection's verified certificate says: the header value, and the names authorization rules match. */
interface Described {
  readonly header: string;
  readonly names: readonly string[];
}

const byConnection = new WeakMap<object, Described | null>();

/** Node's subjectAltName: `DNS:a, URI:b`, an entry holding a comma JSON-quoted. */
const SAN_ENTRY = /(DNS|URI):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;

function sanValue(raw: string): string {
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
}

/** The header value and names of a verified peer certificate; null when the connection has none verified. */
function describeClientCert(socket: TLSSocket): Described | null {
  if (!socket.authorized) return null;
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return null;
  // Node lists the RDNs from the root down, RFC 2253 from the leaf up; values come escaped as RFC 2253 asks.
  const subject = cert.subject.split('\n').reverse().join(',');
  let value = `Hash=${cert.fingerprint256.replaceAll(':', '').toLowerCase()};Subject="${subject.replaceAll('"', '\\"')}"`;
  const uris: string[] = [];
  const dns: string[] = [];
  for (const m of (cert.subjectAltName ?? '').matchAll(SAN_ENTRY)) (m[1] === 'URI' ? uris : dns).push(sanValue(m[2]!));
  for (const u of uris) value += `;URI=${u}`;
  for (const d of dns) value += `;DNS=${d}`;
  return { header: value, names: [subject, ...uris, ...dns] };
}

/** The TLS connection a request came on: HTTP/2 streams share their session's. */
function connectionOf(req: IncomingMessage): TLSSocket {
  const stream = (req as { stream?: Http2Stream }).stream;
  return (stream?.session?.socket ?? req.socket) as TLSSocket;
}

function describedOf(req: IncomingMessage): Described | null {
  const socket = connectionOf(req);
  let v = byConnection.get(socket);
  if (v === undefined) {
    v = typeof socket.getPeerX509Certificate === 'function' ? describeClientCert(socket) : null;
    byConnection.set(socket, v);
  }
  return v;
}

/** The header value for this request's connection (null: no verified certificate). */
export function clientCertOf(req: IncomingMessage): string | null {
  return describedOf(req)?.header ?? null;
}

/** For x-endpoints-authorization `client_certificates`: the verified certificate's subject and URI/DNS SANs. */
export function clientCertNames(req: IncomingMessage): readonly string[] | undefined {
  return describedOf(req)?.names;
}

/**
 * The chain stage of an mTLS listener: the verified certificate, for the
 * backend. It runs after the header sanitizing that drops a caller's copy.
 */
export function stampClientCert(req: IncomingMessage): undefined {
  const v = clientCertOf(req);
  if (v !== null) req.headers[CLIENT_CERT_HEADER] = v;
  return undefined;
}
