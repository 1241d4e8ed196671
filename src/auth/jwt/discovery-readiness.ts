/**
 * OpenID discovery at start, as ESPv2 does it: an issuer without
 * `x-google-jwks_uri` is discovered when the config is loaded, and ESPv2
 * never becomes healthy while that fails (TestInvalidOpenIDConnectDiscovery).
 * Here /readyz stays 503 naming the issuer and the error, and discovery is
 * retried with backoff (2 s doubling to 60 s) until it succeeds.
 */
import type { JwtScheme } from '../../config/types.ts';
import type { JwtAuthenticator } from './authenticator.ts';

export interface DiscoveryReadiness {
  /** Start (again) for a config's schemes: on start and on every reload. */
  watch(schemes: readonly JwtScheme[]): void;
  /** Why the gateway is not ready yet, or undefined. */
  why(): string | undefined;
  close(): void;
}

export function createDiscoveryReadiness(
  jwt: Pick<JwtAuthenticator, 'discover'>,
  onFailure: (issuer: string, error: string, retryInMs: number) => void,
  delay: (attempt: number) => number,
): DiscoveryReadiness {
  let generation = 0;
  let pending: { issuer: string; error: string }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const attempt = async (schemes: readonly JwtScheme[], gen: number, n: number): Promise<void> => {
    const failed = await jwt.discover(schemes);
    if (gen !== generation || closed) return;
    pending = failed;
    if (failed.length === 0) return;
    const wait = delay(n);
    for (const f of failed) onFailure(f.issuer, f.error, wait);
    timer = setTimeout(() => void attempt(schemes, gen, n + 1), wait);
    timer.unref();
  };

  return {
    watch(schemes) {
      clearTimeout(timer);
      const gen = ++generation;
      const discovered = schemes.filter((s) => s.jwksUri === null);
      // Not ready until the first answer: a request must not race the discovery.
      pending = discovered.length === 0 ? [] : [...new Set(discovered.map((s) => s.issuer))].map((issuer) => ({ issuer, error: 'not tried yet' }));
      if (discovered.length > 0) void attempt(discovered, gen, 1);
    },
    why() {
      if (pending.length === 0) return undefined;
      return `OpenID discovery failed for ${pending.map((p) => `${p.issuer} (${p.error})`).join(', ')}; retrying`;
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
