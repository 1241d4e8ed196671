import type { UpstreamFailure } from './upstream-errors.ts';

/**
 * ESPv2's --backend_retry_ons, as Envoy's retry_on conditions: `reset`,
 * `connect-failure`, `refused-stream` (the defaults), and the status-based
 * `5xx`, `gateway-error`, `retriable-4xx`. `5xx` and `gateway-error` also
 * cover resets and connect failures, as in Envoy. Unknown values are ignored
 * with a warning: ESPv2 starts with them (backend_retry_test, "invalid
 * retryOns": one try).
 */
export interface RetryPolicy {
  /** Retries after the first try. */
  readonly num: number;
  readonly onReset: boolean;
  readonly onConnectFailure: boolean;
  readonly onRefusedStream: boolean;
  readonly on5xx: boolean;
  readonly onGatewayError: boolean;
  readonly on4xx: boolean;
}

const KNOWN = new Set(['reset', 'connect-failure', 'refused-stream', '5xx', 'gateway-error', 'retriable-4xx']);

export function retryPolicy(
  retryOns: readonly string[],
  num: number,
  warn?: (msg: string, fields?: Record<string, unknown>) => void,
): RetryPolicy {
  const on = new Set<string>();
  for (const raw of retryOns) {
    const v = raw.trim();
    if (v === '') continue;
    if (KNOWN.has(v)) on.add(v);
    else warn?.('unknown --backend-retry-ons value ignored', { value: v });
  }
  const on5xx = on.has('5xx');
  const onGatewayError = on.has('gateway-error');
  const broad = on5xx || onGatewayError;
  return {
    num: on.size === 0 ? 0 : Math.max(0, Math.floor(num)),
    onReset: broad || on.has('reset'),
    onConnectFailure: broad || on.has('connect-failure'),
    onRefusedStream: broad || on.has('refused-stream'),
    on5xx,
    onGatewayError,
    on4xx: on.has('retriable-4xx'),
  };
}

/** Whether a failed try is covered by the policy (attempts and body replay are checked by the caller). */
export function retriesFailure(p: RetryPolicy, f: UpstreamFailure): boolean {
  switch (f.retryOn) {
    case 'reset':
      return p.onReset;
    case 'connect-failure':
      return p.onConnectFailure;
    case 'refused-stream':
      return p.onRefusedStream;
    default:
      return false;
  }
}

/** Whether a backend status is retried (before anything of it reaches the client). */
export function retriesStatus(p: RetryPolicy, status: number): boolean {
  if (status >= 500) return p.on5xx || (p.onGatewayError && status >= 502 && status <= 504);
  return status === 409 && p.on4xx;
}
