/**
 * The caller's IP for server-key restrictions. `trustedHops` is the number of
 * proxies in front of the gateway that append to X-Forwarded-For: the client
 * is the hops-th entry from the right. Entries further left are written by the
 * caller and are never trusted. This is Envoy's `use_remote_address: true`
 * with `xff_num_trusted_hops: N` (ESPv2 `--envoy_use_remote_address`;
 * its test service_control_apikey_restriction_test: one hop, XFF
 * `192.16.31.84` → caller 192.16.31.84).
 */

/**
 * 0 → the socket's remote address (X-Forwarded-For ignored: a directly exposed
 * gateway must not believe a header the caller writes). N → the N-th entry from
 * the right of X-Forwarded-For; the socket's address when it has fewer than N
 * entries (as Envoy: the trusted proxies did not all append, so the leftmost
 * entries may be the caller's own words) or that entry is empty. The result is
 * normalized (no brackets, port or `::ffff:` prefix); '' if unknown.
 */
export function clientIp(
  xForwardedFor: string | string[] | undefined,
  remoteAddress: string | undefined,
  trustedHops: number,
): string {
  if (trustedHops > 0 && xForwardedFor !== undefined) {
    const xff = typeof xForwardedFor === 'string' ? xForwardedFor : xForwardedFor.join(',');
    // Walk from the right without splitting into an array.
    let end = xff.length;
    let start = xff.lastIndexOf(',', end - 1) + 1;
    let hop = 1;
    for (; hop < trustedHops && start > 0; hop++) {
      end = start - 1;
      start = xff.lastIndexOf(',', end - 1) + 1;
    }
    if (hop === trustedHops) {
      const entry = xff.slice(start, end).trim();
      if (entry !== '') return normalizeIp(entry);
    }
  }
  return remoteAddress === undefined ? '' : normalizeIp(remoteAddress);
}

/** 1 on Cloud Run (Google's front end appends the real client IP), else 0. */
export function defaultTrustedHops(env: NodeJS.ProcessEnv): number {
  return env.K_SERVICE ? 1 : 0;
}

/** `[::1]:8080` → `::1`, `1.2.3.4:5` → `1.2.3.4`, `::ffff:1.2.3.4` → `1.2.3.4`. */
export function normalizeIp(s: string): string {
  let ip = s;
  if (ip.charCodeAt(0) === 0x5b /* [ */) {
    const close = ip.indexOf(']');
    ip = close === -1 ? ip.slice(1) : ip.slice(1, close);
  } else {
    const colon = ip.indexOf(':');
    // Exactly one colon: IPv4 with a port (IPv6 has at least two).
    if (colon !== -1 && ip.indexOf(':', colon + 1) === -1) ip = ip.slice(0, colon);
  }
  if (ip.length > 7 && ip.slice(0, 7).toLowerCase() === '::ffff:' && ip.indexOf('.') !== -1) ip = ip.slice(7);
  return ip;
}
