/**
 * The OpenID provider as openid-client (a certified relying-party library)
 * sees it: discovered once per issuer and client, with ID-token signatures
 * checked against the provider's JWKS (openid-client skips that by default
 * for tokens fetched over TLS; we want it anyway). A failed discovery is
 * retried on the next sign-in, never cached.
 */
import * as oidc from 'openid-client';
import type { SigninScheme } from '../config/types.ts';
import { isLoopbackHost } from './config.ts';

export interface ProviderClients {
  get(scheme: SigninScheme): Promise<oidc.Configuration>;
}

export function createProviderClients(clientSecret: string | undefined, timeoutS = 10): ProviderClients {
  const cache = new Map<string, Promise<oidc.Configuration>>();
  const discover = async (scheme: SigninScheme): Promise<oidc.Configuration> => {
    const issuer = new URL(scheme.issuer);
    const execute = [oidc.enableNonRepudiationChecks];
    if (issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)) execute.push(oidc.allowInsecureRequests);
    const config = await oidc.discovery(
      issuer,
      scheme.clientId,
      clientSecret === undefined ? undefined : { client_secret: clientSecret },
      clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
      { execute, timeout: timeoutS },
    );
    const meta = config.serverMetadata();
    // The spec's URLs are what reviewers read: a provider that says otherwise is a misconfiguration.
    if (scheme.authorizationUrl && meta.authorization_endpoint !== scheme.authorizationUrl) {
      throw new Error(`securityDefinitions.${scheme.name}.authorizationUrl is ${scheme.authorizationUrl} but the issuer's discovery document says ${String(meta.authorization_endpoint)}`);
    }
    if (scheme.tokenUrl && meta.token_endpoint !== scheme.tokenUrl) {
      throw new Error(`securityDefinitions.${scheme.name}.tokenUrl is ${scheme.tokenUrl} but the issuer's discovery document says ${String(meta.token_endpoint)}`);
    }
    return config;
  };
  return {
    get(scheme) {
      const key = `${scheme.issuer}\n${scheme.clientId}\n${scheme.authorizationUrl}\n${scheme.tokenUrl}`;
      let p = cache.get(key);
      if (!p) {
        p = discover(scheme);
        cache.set(key, p);
        p.catch(() => cache.delete(key));
      }
      return p;
    },
  };
}
