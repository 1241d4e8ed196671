/**
 * Issuers that publish their keys as X.509 certificates by key id instead of a
 * JWKS (Google's service-account key endpoints,
 * `https://www.googleapis.com/service_accounts/v1/metadata/x509/<account>`):
 * `{"<kid>": "-----BEGIN CERTIFICATE-----..."}`. ESPv2 (Envoy's jwt_verify_lib)
 * accepts that form (TestAsymmetricKeys, "Succeeded for x509 public keys");
 * jose reads only JWKS, so the fetched document is turned into one first.
 */
import { exportJWK, importX509, type JWK } from 'jose';

const PEM = /^\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;

/** True for a non-empty object whose every value is a PEM certificate (and which has no `keys`). */
export function isX509KeyMap(doc: unknown): doc is Record<string, string> {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const entries = Object.entries(doc);
  return entries.length > 0 && !('keys' in doc) && entries.every(([, v]) => typeof v === 'string' && PEM.test(v));
}

/** Algorithms tried, in turn, to read a certificate's public key (RSA first: Google's are RSA). */
const ALGS = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

async function jwkOf(pem: string): Promise<JWK | undefined> {
  for (const alg of ALGS) {
    try {
      const key = await importX509(pem, alg, { extractable: true });
      return await exportJWK(key);
    } catch {
      // not this key type
    }
  }
  return undefined;
}

/** The JWKS equivalent of an X.509 key map; certificates that cannot be read are left out. */
export async function jwksFromX509(doc: Record<string, string>): Promise<{ keys: JWK[] }> {
  const keys: JWK[] = [];
  for (const [kid, pem] of Object.entries(doc)) {
    const jwk = await jwkOf(pem);
    if (jwk) keys.push({ ...jwk, kid, use: 'sig' });
  }
  return { keys };
}

/** A fetch for jose's remote key set that hands it a JWKS when the issuer published X.509 certificates. */
export async function x509AwareFetch(url: string, options: RequestInit): Promise<Response> {
  const res = await fetch(url, options);
  if (res.status !== 200) return res;
  const text = await res.text();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return new Response(text, { status: res.status, headers: res.headers });
  }
  const body = isX509KeyMap(doc) ? JSON.stringify(await jwksFromX509(doc)) : text;
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
}
