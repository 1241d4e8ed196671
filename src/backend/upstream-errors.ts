import { errors } from 'undici';
import { GatewayError } from '../errors.ts';
import { H2_NOT_NEGOTIATED } from './origins.ts';

/**
 * What went wrong with one try, in Envoy's terms: the `reason` is Envoy's
 * reset-reason text (reference 4.2), `retryOn` the retry_on condition that
 * covers it, `kind` a bounded label for logs and metrics.
 */
export interface UpstreamFailure {
  readonly status: 502 | 503;
  readonly reason: string;
  readonly kind: string;
  readonly retryOn: 'connect-failure' | 'reset' | 'refused-stream' | 'none';
}

const PROTOCOL_ERROR = 'protocol error';
const TERMINATION = 'connection termination';

function failure(status: 502 | 503, reason: string, kind: string, retryOn: UpstreamFailure['retryOn']): UpstreamFailure {
  return { status, reason, kind, retryOn };
}

// The common cases are shared objects: classifying allocates nothing for them.
export const Failures = {
  protocol: failure(502, PROTOCOL_ERROR, 'protocol', 'none'),
  badStatus: failure(502, PROTOCOL_ERROR, 'bad_status', 'none'),
  badHeader: failure(502, PROTOCOL_ERROR, 'bad_header', 'none'),
  headersOverflow: failure(502, PROTOCOL_ERROR, 'headers_overflow', 'none'),
  reset: failure(503, TERMINATION, 'reset', 'reset'),
  perTryTimeout: failure(503, TERMINATION, 'per_try_timeout', 'reset'),
  overflow: failure(503, 'overflow', 'overflow', 'none'),
  refusedStream: failure(503, 'remote refused stream reset', 'refused_stream', 'refused-stream'),
  // Envoy speaks h2 to such a backend, which drops the connection: retried as a reset, answered 503 (ESPv2 TestBackendHttpProtocol).
  h2NotNegotiated: failure(503, TERMINATION, 'h2_not_negotiated', 'reset'),
} as const;

const connectFailures = new Map<string, UpstreamFailure>();

function connectFailure(detail: string, kind: string): UpstreamFailure {
  let f = connectFailures.get(detail);
  if (f === undefined) {
    f = failure(503, `remote connection failure, transport failure reason: ${detail}`, kind, 'connect-failure');
    if (connectFailures.size < 64) connectFailures.set(detail, f);
  }
  return f;
}

/** Classifies an error undici reported for a try (or one we raised into it). */
export function classify(err: Error): UpstreamFailure {
  // undici's parser errors carry no code for most llhttp failures (bad status line, bad header byte).
  if (err instanceof errors.HTTPParserError) return Failures.protocol;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      // Envoy: "delayed connect error: 111" (the errno).
      return connectFailure(`delayed connect error: ${e.errno === undefined ? code : -e.errno}`, 'connect_refused');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return connectFailure(`delayed connect error: ${e.errno === undefined ? code : -e.errno}`, 'connect_unreachable');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return connectFailure(`dns resolution failure: ${code}`, 'dns');
    case 'UND_ERR_CONNECT_TIMEOUT':
      return connectFailure('connect timeout', 'connect_timeout');
    case H2_NOT_NEGOTIATED:
      return Failures.h2NotNegotiated;
    case 'UND_ERR_HEADERS_OVERFLOW':
      return Failures.headersOverflow;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      // undici says "bad response"/"bad upgrade" for an unsolicited 100 or 101.
      return /bad (response|upgrade)/.test(err.message) ? Failures.protocol : Failures.reset;
    case 'ERR_HTTP2_STREAM_ERROR':
      return err.message.includes('REFUSED_STREAM') ? Failures.refusedStream : Failures.reset;
    case 'ERR_HTTP2_SESSION_ERROR':
    case 'ERR_HTTP2_GOAWAY_SESSION':
    case 'ERR_HTTP2_STREAM_CANCEL':
    case 'ERR_HTTP2_INVALID_SESSION':
      return Failures.reset;
    default:
      if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'ERR_HTTP2_ERROR' || code === 'ERR_HTTP2_PROTOCOL_ERROR')
        return Failures.protocol;
      if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code.startsWith('DEPTH_ZERO') || code === 'SELF_SIGNED_CERT_IN_CHAIN')
        return connectFailure(`TLS_error: ${code}`, 'tls');
      if (e.syscall === 'connect') return connectFailure(code || 'connect error', 'connect_other');
      return failure(503, TERMINATION, 'other', 'none');
  }
}

/** The client's answer for a failure before any response byte (Envoy's wording). */
export function failureAnswer(f: UpstreamFailure, retried: boolean): GatewayError {
  const prefix = retried
    ? 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: '
    : 'upstream connect error or disconnect/reset before headers. reset reason: ';
  return new GatewayError(f.status, prefix + f.reason, f.status === 502 ? 'upstream_bad_response' : 'upstream_unavailable');
}
