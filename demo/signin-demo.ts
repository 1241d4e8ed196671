// `npm start`'s sign-in route: a local OpenID provider (oidc-provider, with
// its development login and consent pages) and a small "private app" behind
// `/app/`, so a newcomer can sign in at a printed URL in their own browser.
// Any login name works; `name@example.com` becomes the email.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Provider from 'oidc-provider';

const CLIENT_ID = 'endpoints-gateway-demo';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The session secret is kept under .demo/ so sessions survive a restart of the demo. */
async function demoSecret(file: string): Promise<string> {
  const old = await readFile(file, 'utf8').catch(() => '');
  if (old.trim().length >= 32) return old.trim();
  const s = randomBytes(48).toString('base64url');
  await writeFile(file, `${s}\n`, { mode: 0o600 });
  return s;
}

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface DemoSignin {
  readonly flags: { publicUrl: string; sessionSecretFile: string; clientSecretFile: string };
  readonly issuer: string;
  readonly appUrl: string;
  close(): Promise<void>;
}

/** Adds the sign-in scheme and `/app/**` to `spec`, and starts the provider and the app. */
export async function startDemoSignin(spec: Record<string, any>, dir: string, gatewayPort: number): Promise<DemoSignin> {
  const publicUrl = `http://localhost:${gatewayPort}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const clientSecretFile = path.join(dir, 'signin-client-secret');
  await writeFile(clientSecretFile, `${clientSecret}\n`, { mode: 0o600 });
  const sessionSecretFile = path.join(dir, 'session-secret');
  await demoSecret(sessionSecretFile);

  let handler: http.RequestListener = (_q, r) => r.end();
  const idpServer = http.createServer((q, r) => handler(q, r));
  const issuer = await listen(idpServer);
  // The demo's provider is meant to be oidc-provider's in-memory, development-only one (the demo
  // says it is a local stand-in): its two "development-only" warnings would only alarm a newcomer.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: a quick start development-only')) return;
    warn(...args);
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/.endpoints/callback`, `http://127.0.0.1:${gatewayPort}/.endpoints/callback`],
        post_logout_redirect_uris: [`${publicUrl}/app/`, `http://127.0.0.1:${gatewayPort}/app/`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [{ ...(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'demo', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(24).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    conformIdTokenClaims: false,
    // Explicit lifetimes (oidc-provider nags about its defaults otherwise).
    ttl: { Interaction: 600, Session: 86_400, Grant: 1_209_600, AccessToken: 3600, RefreshToken: 1_209_600, IdToken: 3600 },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id.includes('@') ? id : `${id}@example.com`, email_verified: true, name: id, groups: ['demo'] }),
    }),
  });
  handler = provider.callback();

  // The private app: shows who the gateway says is signed in.
  const app = http.createServer((req, res) => {
    const raw = String(req.headers['x-endpoint-api-userinfo'] ?? '');
    const user = raw ? (JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Record<string, unknown>) : {};
    const html = `<!doctype html><meta charset="utf-8"><title>Private app</title><h1>Hello, ${escapeHtml(String(user.name ?? 'stranger'))}</h1><p>The gateway says you are <b>${escapeHtml(String(user.email ?? '?'))}</b> (groups: ${escapeHtml(JSON.stringify(user.groups ?? []))}), signed in at ${escapeHtml(String(user.iss ?? '?'))}.</p><p>This page came from the backend at ${escapeHtml(req.headers.host ?? '')}, path ${escapeHtml(req.url ?? '')}.</p><p><a href="/.endpoints/sign_out">Sign out</a></p>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  const appUrl = await listen(app);

  spec.securityDefinitions = {
    ...spec.securityDefinitions,
    signin: {
      type: 'oauth2',
      flow: 'accessCode',
      authorizationUrl: `${issuer}/auth`,
      tokenUrl: `${issuer}/token`,
      'x-google-issuer': issuer,
      'x-endpoints-signin': { client_id: CLIENT_ID, scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'], post_logout_path: '/app/' },
    },
  };
  spec.paths = {
    ...spec.paths,
    '/app/**': {
      get: {
        operationId: 'privateApp',
        security: [{ signin: [] }],
        'x-endpoints-authorization': { email_domains: ['example.com'] },
        'x-google-backend': { address: appUrl, path_translation: 'APPEND_PATH_TO_ADDRESS' },
        responses: { '200': { description: 'the app' } },
      },
    },
  };

  const close = async (s: http.Server) => {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  };
  return {
    flags: { publicUrl, sessionSecretFile, clientSecretFile },
    issuer,
    appUrl,
    close: async () => {
      await Promise.all([close(idpServer), close(app)]);
    },
  };
}
