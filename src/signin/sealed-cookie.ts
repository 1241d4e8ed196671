/**
 * Encrypted, authenticated cookie values: a JWT encrypted with jose (JWE,
 * `dir` + A256GCM) under a key derived from the session secret with HKDF.
 * Each purpose (session, sign-in flow) derives its own key, so one can never
 * be passed off as the other. The key id in the header picks the secret when
 * several are configured (rotation); anything that does not decrypt, has
 * expired or names no known key opens as undefined.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, decodeProtectedHeader, type JWTPayload } from 'jose';

/** `session-record`: a session as kept in the session store (never a cookie, so never passed off as one). */
export type CookiePurpose = 'session' | 'signin-flow' | 'session-record';

interface DerivedKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

function derive(secret: string, purpose: CookiePurpose): DerivedKey {
  const key = new Uint8Array(hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'endpoints-gateway', `endpoints-gateway ${purpose} cookie v1`, 32));
  const kid = createHash('sha256').update(key).digest('base64url').slice(0, 12);
  return { kid, key };
}

export interface SealedCookieCodec {
  /** Seals `claims` until `exp` (seconds since the epoch). */
  seal(claims: Record<string, unknown>, exp: number): Promise<string>;
  /** The claims, or undefined for anything tampered, expired, foreign or malformed. */
  open(value: string): Promise<(JWTPayload & Record<string, unknown>) | undefined>;
}

export function createSealedCookieCodec(secrets: readonly string[], purpose: CookiePurpose): SealedCookieCodec {
  const keys = secrets.map((s) => derive(s, purpose));
  const current = keys[0]!;
  const byKid = new Map(keys.map((k) => [k.kid, k.key]));
  // Cookies never exceed a few KB; a stored record holds identities of any reasonable size.
  const maxLength = purpose === 'session-record' ? 1 << 20 : 8192;
  return {
    seal: (claims, exp) =>
      new EncryptJWT(claims)
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: current.kid, typ: purpose })
        .setIssuedAt()
        .setExpirationTime(exp)
        .encrypt(current.key),
    open: async (value) => {
      if (value.length > maxLength) return undefined;
      try {
        const header = decodeProtectedHeader(value);
        const key = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined;
        if (!key || header.typ !== purpose) return undefined;
        const { payload } = await jwtDecrypt(value, key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], requiredClaims: ['exp'] });
        return payload as JWTPayload & Record<string, unknown>;
      } catch {
        return undefined;
      }
    },
  };
}
