/**
 * /readyz: ready once every backend that needs an ID token has had one and
 * every JWT issuer that must be discovered has been (both warmed for each
 * snapshot, with ESPv2's ALWAYS_INIT behaviour: serving goes on meanwhile);
 * not ready again while draining.
 */
import type { ServiceConfig } from '../config/types.ts';
import type { IdTokenSource } from '../backend/id-tokens.ts';
import { warmRetryDelay } from '../backend/id-token-reporting.ts';
import type { JwtAuthenticator } from '../auth/jwt/authenticator.ts';
import type { LocalJwks } from '../auth/jwt/jwks-file.ts';
import { createDiscoveryReadiness } from '../auth/jwt/discovery-readiness.ts';
import type { Logger } from '../observability/logger.ts';

export interface Readiness {
  check(): { ready: boolean; why: string };
  /** Warms what a config needs: its new ID-token audiences, its JWT issuers' keys. */
  warm(config: ServiceConfig, previous: ServiceConfig | undefined): void;
  drain(): void;
  close(): void;
}

export interface ReadinessParts {
  readonly tokens: IdTokenSource | undefined;
  readonly jwt: JwtAuthenticator;
  readonly localJwks: LocalJwks | undefined;
  /** Keys are fetched ahead (and discovery gates readiness) only on Google Cloud (--backend-auth google). */
  readonly fetchAhead: boolean;
  readonly log: Logger;
}

export function createReadiness(p: ReadinessParts): Readiness {
  const { tokens, jwt, localJwks, log } = p;
  let tokensReady = true;
  let draining = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const discovery = createDiscoveryReadiness(
    jwt,
    (issuer, error, retryInMs) => log.warn({ issuer, error, retryInMs }, 'OpenID discovery failed: not ready; retrying'),
    warmRetryDelay,
  );

  const warmTokens = async (audiences: readonly string[], attempt = 1): Promise<void> => {
    if (!tokens || audiences.length === 0 || closed) return;
    if (await tokens.prefetch(audiences)) {
      tokensReady = true;
      return;
    }
    if (!closed) {
      // Backed off (2 s doubling to 60 s): off Google Cloud this never succeeds.
      retryTimer = setTimeout(() => void warmTokens(audiences, attempt + 1), warmRetryDelay(attempt));
      retryTimer.unref();
    }
  };

  const jwtSchemesOf = (config: ServiceConfig) => [...new Set(config.operations.flatMap((o) => o.security.jwtSchemes))];

  return {
    check() {
      if (draining) return { ready: false, why: 'shutting down' };
      if (!tokensReady) return { ready: false, why: 'no backend ID token yet' };
      const undiscovered = discovery.why();
      return undiscovered ? { ready: false, why: undiscovered } : { ready: true, why: '' };
    },
    warm(config, previous) {
      const fresh = previous ? config.audiences.filter((a) => !previous.audiences.includes(a)) : config.audiences;
      if (!previous) tokensReady = !tokens || fresh.length === 0;
      void warmTokens(fresh);
      const schemes = jwtSchemesOf(config);
      // Off Google Cloud nothing is contacted ahead: a CI job serving a production spec offline must not wait
      // for, or even try, an issuer it never calls; an issuer given --jwks-file needs no discovery at all.
      discovery.watch(p.fetchAhead ? schemes.filter((s) => !localJwks?.has(s.issuer)) : []);
      for (const issuer of localJwks?.unused(schemes.map((s) => s.issuer)) ?? [])
        log.warn({ issuer }, '--jwks-file names an issuer that no operation of the spec accepts; its keys are unused');
      if (p.fetchAhead) void jwt.prefetch(schemes);
    },
    drain() {
      draining = true;
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      discovery.close();
    },
  };
}
