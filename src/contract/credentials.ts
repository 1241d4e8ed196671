/**
 * Credentials where the operation's security says the gateway reads them:
 * the API key at the first of its key locations (`?key=` for the usual
 * `{type: apiKey, name: key, in: query}`, else the scheme's own name and
 * place), the JWT at the first token location (`Authorization: Bearer`
 * unless `x-google-jwt-locations` says otherwise).
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import type { ApiKeyLocation, JwtLocation, JwtScheme, Operation } from '../config/types.ts';
import type { PlannedRequest } from './request.ts';

export interface Credentials {
  readonly key?: string | undefined;
  readonly jwt?: string | undefined;
}

function placed(req: PlannedRequest, loc: ApiKeyLocation | JwtLocation, value: string): PlannedRequest {
  if (loc.in === 'query') return { ...req, query: [...req.query, [loc.name, value]] };
  const prefix = 'valuePrefix' in loc ? loc.valuePrefix : '';
  return { ...req, headers: { ...req.headers, [loc.name]: `${prefix}${value}` } };
}

export function withKey(req: PlannedRequest, op: Operation, key: string): PlannedRequest {
  const loc = op.security.apiKeyLocations[0];
  return loc ? placed(req, loc, key) : req;
}

export function withJwt(req: PlannedRequest, op: Operation, token: string): PlannedRequest {
  const loc = op.security.jwtLocations[0];
  return loc ? placed(req, loc, token) : req;
}

/** What the operation asks for, from what the caller has: the key and JWT where they are read. */
export function withCredentials(req: PlannedRequest, op: Operation, c: Credentials): PlannedRequest {
  let out = req;
  if (c.jwt && op.security.jwtSchemes.length > 0) out = withJwt(out, op, c.jwt);
  if (c.key && op.security.apiKeyRequired) out = withKey(out, op, c.key);
  return out;
}

/**
 * A well-formed token for the scheme (its issuer and audience, not expired)
 * signed by a key nobody published: the gateway must refuse it with 401.
 */
export async function tokenFromUnknownSigner(scheme: JwtScheme): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'endpoints-gateway-contract', email: 'contract@example.com', email_verified: true })
    .setProtectedHeader({ alg: 'ES256', kid: `contract-unknown-${randomBytes(6).toString('hex')}`, typ: 'JWT' })
    .setIssuer(scheme.issuer)
    .setAudience(scheme.audiences[0] ?? scheme.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
}

/** A key that no store holds: Google's shape, so it is judged as a key and not as malformed input. */
export function invalidKey(): string {
  return `AIzaContractInvalid${randomBytes(10).toString('hex')}`;
}
