// A real OpenID provider for the sign-in tests: oidc-provider (a certified
// implementation) on loopback, with one registered confidential client,
// discovery, JWKS, refresh tokens (offline_access), token revocation (RFC 7009), end-session and its own
// development login and consent pages.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

export interface Account {
  readonly email: string;
  readonly email_verified?: boolean;
  readonly name: string;
  readonly groups: readonly string[];
  readonly department?: string;
}

export const ACCOUNTS: Readonly<Record<string, Account>> = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['eng', 'staff'], department: 'engineering' },
  bob: { email: 'bob@other.org', email_verified: true, name: 'Bob Other', groups: ['staff'] },
  carol: { email: 'carol@example.com', email_verified: true, name: 'Carol Example', groups: ['sales'] },
  // About 10 KB of groups: more than any cookie holds.
  dave: { email: 'dave@example.com', email_verified: true, name: 'Dave Many-Groups', groups: ['eng', ...Array.from({ length: 540 }, (_, i) => `group-number-${String(i).padStart(3, '0')}`)] },
};

export interface ClientUris {
  readonly redirectUris: string[];
  readonly postLogoutRedirectUris: string[];
}

/** Another app registered with the same provider (same client secret). */
export interface OtherClient extends ClientUris {
  readonly clientId: string;
}

export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Requests the provider saw, `METHOD path` (token and end-session calls among them). */
  readonly seen: string[];
  /**
   * Registers the client's redirect URIs and starts answering. Separate from
   * starting, so the issuer URL is known before the gateways that name it start
   * (on ports of their own choosing), and their URIs are known after.
   */
  register(uris: ClientUris, others?: readonly OtherClient[]): void;
  close(): Promise<void>;
}

export async function startProvider(opts: Partial<ClientUris> & { clientId?: string; clientSecret?: string; endSession?: boolean; revocation?: boolean } = {}): Promise<TestProvider> {
  let handler: http.RequestListener = (_req, res) => res.end();
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url?.split('?')[0]}`);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = opts.clientId ?? 'gateway-test';
  const clientSecret = opts.clientSecret ?? 'a-client-secret-for-the-sign-in-tests';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'test-key', use: 'sig', alg: 'RS256' };
  // Until register(), the same provider without a client: discovery and JWKS answer already (gateways fetch them at start).
  const register = (uris: ClientUris | undefined, others: readonly OtherClient[] = []) => {
    const all = uris === undefined ? [] : [{ clientId, ...uris }, ...others];
    const provider = new Provider(issuer, {
      clients: all.map((c) => ({
          client_id: c.clientId,
          client_secret: clientSecret,
          redirect_uris: c.redirectUris,
          post_logout_redirect_uris: c.postLogoutRedirectUris,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
      })),
      jwks: { keys: [jwk as never] },
      cookies: { keys: ['sign-in-test-cookie-key-0123456789abcdef'] },
      scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'department'], groups: ['groups'] },
      // Claims in the ID token as Google does (the gateway also falls back to userinfo).
      conformIdTokenClaims: false,
      // Explicit lifetimes (oidc-provider nags about its defaults otherwise).
      ttl: { Interaction: 600, Session: 86_400, Grant: 1_209_600, AccessToken: 3600, RefreshToken: 1_209_600, IdToken: 3600 },
      features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: opts.endSession ?? true }, revocation: { enabled: opts.revocation ?? true } },
      findAccount: (_ctx, id) => {
        const a = ACCOUNTS[id];
        if (!a) return undefined;
        return { accountId: id, claims: () => ({ sub: id, ...a, groups: [...a.groups] }) };
      },
    });
    // Quiet: the dev-only warnings are expected here.
    provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider: ${String(err)}\n`));
    handler = provider.callback();
  };
  register(opts.redirectUris ? { redirectUris: opts.redirectUris, postLogoutRedirectUris: opts.postLogoutRedirectUris ?? [] } : undefined);
  return {
    issuer,
    clientId,
    clientSecret,
    seen,
    register,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
