// A wire-level stand-in for the GCE / Cloud Run metadata server (and the bits of accounts.google.com and
// oauth2.googleapis.com that ID tokens need), so the REAL google-auth-library can be pointed at it with
// GCE_METADATA_HOST. Loopback only. Mints RS256 ID tokens with jose and serves the matching JWKS / PEM certs.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

const ISSUER = 'https://accounts.google.com' as const;
const TOKEN_ENDPOINT = 'https://oauth2.googleapis.com/token';
const MD = '/computeMetadata/v1';

export interface EmulatorRequest {
  /** Path without the query string. */
  path: string;
  /** ID-token audience (identity endpoint `audience=`, or `target_audience` of a /token assertion). */
  audience?: string;
  format?: string;
}

/** A service-account key file's JSON, as `GoogleAuth({ credentials })` or GOOGLE_APPLICATION_CREDENTIALS expect. */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

export interface MetadataEmulator {
  readonly host: string;
  readonly url: string;
  readonly jwksUrl: string;
  readonly pemCertsUrl: string;
  /** Where a test's transporter should send `https://oauth2.googleapis.com/token` (service-account path). */
  readonly tokenUrl: string;
  readonly issuer: typeof ISSUER;
  readonly requests: ReadonlyArray<EmulatorRequest>;
  /** ID tokens minted or refused (identity endpoint and /token with target_audience), optionally for one audience. */
  identityCount(audience?: string): number;
  /** ID-token requests answer `status` (default 500, which gaxios retries 3 times; 403 is not retried). */
  setFailing(failing: boolean, status?: number): void;
  setDelayMs(ms: number): void;
  setTokenLifetimeSeconds(s: number): void;
  rotateKey(): Promise<void>;
  verify(token: string, audience: string): Promise<JWTPayload>;
  /** A new service-account key whose assertions /token accepts. */
  createServiceAccountKey(email?: string): Promise<ServiceAccountKey>;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
  pem: string;
}

async function newSigningKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID().replaceAll('-', '');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, jwk, pem: await exportSPKI(publicKey) };
}

/** Query parsing that tolerates what google-auth-library sends: the audience is NOT URL-encoded. */
function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    let decoded = v;
    try {
      decoded = decodeURIComponent(v);
    } catch {
      // a raw '%' in an unencoded audience: keep it as it arrived
    }
    out.set(k, decoded);
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startMetadataEmulator(
  opts: { serviceAccountEmail?: string; projectId?: string } = {},
): Promise<MetadataEmulator> {
  const projectId = opts.projectId ?? 'test-project';
  const numericProjectId = '123456789012';
  const email = opts.serviceAccountEmail ?? `gateway@${projectId}.iam.gserviceaccount.com`;
  const subject = '104' + String(Date.now()).slice(-15).padStart(15, '0');

  const keys: SigningKey[] = [await newSigningKey()];
  const current = () => keys[keys.length - 1]!;
  const saPublicKeys = new Map<string, CryptoKey>(); // client_email -> public key
  const requests: EmulatorRequest[] = [];
  let failing = false;
  let failStatus = 500;
  let delayMs = 0;
  let lifetimeS = 3600;

  async function mintIdToken(audience: string, claims: Record<string, unknown>): Promise<string> {
    const k = current();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ azp: subject, email, email_verified: true, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: k.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetimeS)
      .sign(k.privateKey);
  }

  function send(res: ServerResponse, status: number, body: string, type = 'text/plain', extra: Record<string, string> = {}) {
    res.writeHead(status, { 'Metadata-Flavor': 'Google', 'Content-Type': type, ...extra });
    res.end(body);
  }

  async function handleMetadata(req: IncomingMessage, res: ServerResponse, path: string, q: Map<string, string>) {
    // The real server refuses requests without the flavor header, and proxied ones (X-Forwarded-For).
    if (req.headers['metadata-flavor'] !== 'Google' || req.headers['x-forwarded-for'] !== undefined) {
      send(res, 403, 'Missing required header: Metadata-Flavor\n');
      return;
    }
    const saPrefix = `${MD}/instance/service-accounts/`;
    if (path.startsWith(saPrefix)) {
      const [account, leaf, ...rest] = path.slice(saPrefix.length).split('/');
      if ((account === 'default' || account === email) && rest.length === 0) {
        if (leaf === 'email') return send(res, 200, email);
        if (leaf === 'scopes') return send(res, 200, 'https://www.googleapis.com/auth/cloud-platform\n');
        if (leaf === 'token') {
          return send(
            res,
            200,
            JSON.stringify({ access_token: `ya29.emulated-${randomUUID()}`, expires_in: lifetimeS, token_type: 'Bearer' }),
            'application/json',
          );
        }
        if (leaf === 'identity') {
          const audience = q.get('audience');
          if (delayMs > 0) await sleep(delayMs);
          if (failing) return send(res, failStatus, 'emulated metadata server failure\n');
          if (!audience) return send(res, 400, 'non-empty audience parameter required\n');
          const format = q.get('format') ?? 'standard';
          const extra =
            format === 'full'
              ? { google: { compute_engine: { project_id: projectId, project_number: Number(numericProjectId), zone: 'us-central1-a', instance_id: '1', instance_name: 'emulated' } } }
              : {};
          return send(res, 200, await mintIdToken(audience, extra));
        }
      }
      return send(res, 404, 'Not Found\n');
    }
    switch (path) {
      case `${MD}/instance`:
      case `${MD}/instance/`:
        return send(res, 200, 'attributes/\nhostname\nid\nservice-accounts/\nzone\n');
      case `${MD}/project/project-id`:
        return send(res, 200, projectId);
      case `${MD}/project/numeric-project-id`:
        return send(res, 200, numericProjectId);
      case `${MD}/universe/universe-domain`:
        return send(res, 200, 'googleapis.com');
      default:
        return send(res, 404, 'Not Found\n');
    }
  }

  // oauth2.googleapis.com/token stand-in: accepts a JWT-bearer assertion signed by a key from createServiceAccountKey().
  async function handleToken(req: IncomingMessage, res: ServerResponse, rec: EmulatorRequest) {
    const form = new URLSearchParams(await readBody(req));
    const assertion = form.get('assertion') ?? '';
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    let claims: JWTPayload;
    try {
      const iss = String(decodeJwt(assertion).iss);
      const key = saPublicKeys.get(iss);
      if (!key) throw new Error('unknown service account');
      ({ payload: claims } = await jwtVerify(assertion, key, { audience: TOKEN_ENDPOINT, issuer: iss, algorithms: ['RS256'] }));
    } catch (e) {
      return json(400, { error: 'invalid_grant', error_description: (e as Error).message });
    }
    const target = typeof claims.target_audience === 'string' ? claims.target_audience : undefined;
    if (target === undefined) {
      return json(200, { access_token: `ya29.emulated-${randomUUID()}`, expires_in: lifetimeS, token_type: 'Bearer' });
    }
    rec.audience = target;
    if (delayMs > 0) await sleep(delayMs);
    if (failing) return json(failStatus, { error: 'internal_failure', error_description: 'emulated failure' });
    const id_token = await mintIdToken(target, { azp: claims.iss, sub: claims.iss, email: claims.iss });
    return json(200, { id_token });
  }

  const server = createServer((req, res) => {
    const target = req.url ?? '/';
    const qi = target.indexOf('?');
    const path = qi < 0 ? target : target.slice(0, qi);
    const q = parseQuery(qi < 0 ? '' : target.slice(qi + 1));
    const rec: EmulatorRequest = { path };
    const aud = q.get('audience');
    if (aud !== undefined) rec.audience = aud;
    const fmt = q.get('format');
    if (fmt !== undefined) rec.format = fmt;
    requests.push(rec);

    let work: Promise<unknown>;
    if (path === '/oauth2/v3/certs') {
      work = Promise.resolve(
        res
          .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' })
          .end(JSON.stringify({ keys: keys.map((k) => k.jwk) })),
      );
    } else if (path === '/oauth2/v1/certs') {
      work = Promise.resolve(
        res
          .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' })
          .end(JSON.stringify(Object.fromEntries(keys.map((k) => [k.kid, k.pem])))),
      );
    } else if (path === '/token' && req.method === 'POST') {
      work = handleToken(req, res, rec);
    } else if (path.startsWith(MD)) {
      work = handleMetadata(req, res, path, q);
    } else {
      work = Promise.resolve(res.writeHead(404).end());
    }
    work.catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Metadata-Flavor': 'Google' });
      res.end(String(e));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;

  return {
    host,
    url,
    jwksUrl: `${url}/oauth2/v3/certs`,
    pemCertsUrl: `${url}/oauth2/v1/certs`,
    tokenUrl: `${url}/token`,
    issuer: ISSUER,
    requests,
    identityCount(audience?: string) {
      let n = 0;
      for (const r of requests) {
        const isIdentity = r.path.endsWith('/identity') || (r.path === '/token' && r.audience !== undefined);
        if (isIdentity && (audience === undefined || r.audience === audience)) n++;
      }
      return n;
    },
    setFailing(f: boolean, status = 500) {
      failing = f;
      failStatus = status;
    },
    setDelayMs(ms: number) {
      delayMs = ms;
    },
    setTokenLifetimeSeconds(s: number) {
      lifetimeS = s;
    },
    async rotateKey() {
      keys.push(await newSigningKey());
    },
    async verify(token: string, audience: string) {
      const jwks = createLocalJWKSet({ keys: keys.map((k) => k.jwk) });
      const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience, algorithms: ['RS256'] });
      return payload;
    },
    async createServiceAccountKey(saEmail = `sa-${saPublicKeys.size + 1}@${projectId}.iam.gserviceaccount.com`) {
      const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
      saPublicKeys.set(saEmail, publicKey);
      return {
        type: 'service_account',
        project_id: projectId,
        private_key_id: randomUUID().replaceAll('-', ''),
        private_key: await exportPKCS8(privateKey),
        client_email: saEmail,
        client_id: `10000000000000000${String(saPublicKeys.size).padStart(4, '0')}`,
        token_uri: TOKEN_ENDPOINT,
      };
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
