/**
 * How long a sign-in session lives, checked once at start. The lifetime is
 * absolute: fixed at sign-in and never moved by a refresh (refreshing only
 * renews the provider's tokens and the identity inside it). A value the
 * gateway cannot honour is refused with the reason, never rounded.
 */

/** Browsers cap a cookie's Max-Age at 400 days: a longer session would be cut short silently. */
const MAX_TTL_S = 400 * 86_400;

export interface SessionLifetime {
  /** Absolute lifetime from sign-in, in seconds. */
  readonly ttlS: number;
  /** Ends a session unused this long (store mode only); undefined: no idle limit. */
  readonly idleS: number | undefined;
  /** How old the identity may get before the refresh token (if any) renews it. */
  readonly refreshAfterS: number;
}

function wholeSeconds(ms: number, flag: string): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`${flag}: must be longer than 0`);
  // Session expiries are whole seconds (JWT exp, cookie Max-Age, Redis EXPIRE).
  if (ms % 1000 !== 0) throw new Error(`${flag}: ${ms} ms is not a whole number of seconds; sessions expire on whole seconds (e.g. 30s, 15m, 12h)`);
  return ms / 1000;
}

export function sessionLifetime(ttlMs: number, idleMs: number | undefined, hasStore: boolean): SessionLifetime {
  const ttlS = wholeSeconds(ttlMs, '--session-ttl');
  if (ttlS > MAX_TTL_S) throw new Error(`--session-ttl: at most ${MAX_TTL_S / 3600}h (400 days): browsers drop cookies older than that`);
  let idleS: number | undefined;
  if (idleMs !== undefined) {
    idleS = wholeSeconds(idleMs, '--session-idle-timeout');
    if (!hasStore) {
      throw new Error('--session-idle-timeout needs --session-store: a stateless session cookie cannot record when it was last used without being rewritten on every request');
    }
    if (idleS >= ttlS) throw new Error(`--session-idle-timeout (${idleS}s) must be shorter than --session-ttl (${ttlS}s), which ends every session anyway`);
  }
  // Renew provider tokens well inside the lifetime, and at least hourly so group changes show up.
  const refreshAfterS = Math.max(1, Math.min(3600, Math.floor(ttlS / 2)));
  return { ttlS, idleS, refreshAfterS };
}
