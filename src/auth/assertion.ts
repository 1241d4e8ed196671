/**
 * The gateway's own signed identity assertion, for backends outside Google
 * Cloud that cannot check Google ID tokens (like Pomerium's or IAP's signed
 * headers): a short-lived JWT in `X-Endpoints-Gateway-Assertion`, verifiable
 * with the public keys served at ASSERTION_JWKS_PATH.
 *
 * Claims: iss = the service name, aud = the backend address as written in
 * the spec, iat/exp (2 min, never past the user's token), and when known:
 * sub/email/email_verified of the verified user, `user_iss` (the user's
 * token issuer), `user_claims` (all verified claims), `consumer_project`
 * (the API key's project number).
 *
 * Signing costs far more than a request should; an assertion is reused for
 * the same (backend, user token, key project) while it has 60 s left.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';

export const ASSERTION_HEADER = 'x-endpoints-gateway-assertion';
export const ASSERTION_JWKS_PATH = '/.well-known/endpoints-gateway/jwks.json';

const LIFETIME_S = 120;
const REUSE_MARGIN_S = 60;

export interface AssertionInput {
  /** The gateway's service name (issuer). */
  readonly issuer: string;
  /** The backend address (audience). */
  readonly audience: string;
  readonly user?: { readonly claims: Readonly<Record<string, unknown>>; readonly tokenHash: string } | undefined;
  /** The API key's consumer project number, when a key verified. */
  readonly consumerProject?: string | undefined;
}

export interface AssertionSigner {
  /** `{"keys":[<public JWK>]}`, the body served at ASSERTION_JWKS_PATH. */
  readonly jwksJson: string;
  readonly kid: string;
  readonly alg: 'ES256' | 'RS256';
  /** A signed assertion for this request (cached while it has 60 s left). */
  sign(input: AssertionInput): Promise<string>;
}

/** ES256 for EC P-256 keys, RS256 for RSA keys; anything else is refused with a reason. */
function algorithmOf(key: KeyObject): 'ES256' | 'RS256' {
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('the signing key is an RSA key shorter than 2048 bits');
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`the signing key must be an EC P-256 or RSA private key (got ${key.asymmetricKeyType ?? 'unknown'})`);
}

/**
 * Loads the PEM private key at `keyFile` (PKCS#8, SEC1 or PKCS#1), or
 * generates an EC P-256 key for this process when undefined (local runs:
 * backends must then re-read the JWKS after each restart).
 */
export async function createAssertionSigner(opts: { keyFile?: string | undefined } = {}): Promise<AssertionSigner> {
  let privateKey: KeyObject;
  if (opts.keyFile) {
    const pem = await readFile(opts.keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`--signing-key ${opts.keyFile}: cannot read it (${err.code ?? err.message})`);
    });
    try {
      privateKey = createPrivateKey(pem);
    } catch {
      throw new Error(`--signing-key ${opts.keyFile}: not a PEM private key`);
    }
  } else {
    privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }
  const alg = algorithmOf(privateKey);
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwksJson = JSON.stringify({ keys: [{ ...publicJwk, kid, alg, use: 'sig' }] });
  const cache = new LRUCache<string, { jwt: string; exp: number }>({ max: 10_000 });

  async function sign(input: AssertionInput): Promise<string> {
    const key = `${input.audience}\n${input.user?.tokenHash ?? ''}\n${input.consumerProject ?? ''}\n${input.issuer}`;
    const now = Math.floor(Date.now() / 1000);
    const hit = cache.get(key);
    if (hit && hit.exp - now >= REUSE_MARGIN_S) return hit.jwt;

    const claims: Record<string, unknown> = {};
    let exp = now + LIFETIME_S;
    const u = input.user?.claims;
    if (u) {
      if (typeof u.sub === 'string') claims.sub = u.sub;
      if (typeof u.email === 'string') claims.email = u.email;
      if (u.email_verified !== undefined) claims.email_verified = u.email_verified === true || u.email_verified === 'true';
      if (typeof u.iss === 'string') claims.user_iss = u.iss;
      claims.user_claims = u;
      if (typeof u.exp === 'number' && u.exp < exp) exp = Math.floor(u.exp);
    }
    if (input.consumerProject) claims.consumer_project = input.consumerProject;
    const jwt = await new SignJWT(claims)
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(input.issuer)
      .setAudience(input.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(privateKey);
    cache.set(key, { jwt, exp });
    return jwt;
  }

  return { jwksJson, kid, alg, sign };
}
