/**
 * `x-endpoints-authorization`: who may call an operation, beyond holding a
 * valid token. Checked after the JWT and API-key stages, against the
 * verified claims only. Refusals are 403 PERMISSION_DENIED and never quote a
 * claim value or the token.
 */
import { GatewayError } from '../errors.ts';
import type { AuthorizationRule } from '../config/types.ts';

export const AuthorizationMessages = {
  noIdentity: 'PERMISSION_DENIED: This method requires a verified end-user identity (JWT).',
  emailNotVerified: "PERMISSION_DENIED: The caller's email is not verified.",
  emailNotAllowed: "PERMISSION_DENIED: The caller's email is not allowed to call this method.",
  groupNotAllowed: "PERMISSION_DENIED: The caller is in none of the groups allowed to call this method.",
  claimNotAllowed: (name: string) => `PERMISSION_DENIED: The caller's token lacks an allowed value of the claim "${name}".`,
  clientCertNotAllowed: "PERMISSION_DENIED: The caller's client certificate is not allowed to call this method.",
} as const;

function denied(message: string, reason: string): GatewayError {
  return new GatewayError(403, message, reason);
}

function claimMatches(value: unknown, allowed: readonly (string | number | boolean)[]): boolean {
  if (Array.isArray(value)) return value.some((v) => allowed.includes(v as string));
  return allowed.includes(value as string);
}

/**
 * The refusal for this caller, or undefined when the rule lets it through.
 * `claims` are the verified token's (undefined: no token verified).
 * With emails or domains listed, `email` must be verified (`email_verified`
 * true, or the string "true" some issuers send) and listed, or in a listed domain.
 */
export function authorize(
  rule: AuthorizationRule,
  claims: Readonly<Record<string, unknown>> | undefined,
  /** The verified TLS client certificate's subject and URI/DNS SANs; undefined: none was verified. */
  clientCertNames?: readonly string[],
): GatewayError | undefined {
  if (rule.clientCertificates !== undefined) {
    const names = clientCertNames;
    if (names === undefined || !names.some((n) => rule.clientCertificates!.includes(n))) return denied(AuthorizationMessages.clientCertNotAllowed, 'authz_client_cert');
    // A rule about the certificate alone needs no end-user token.
    if (rule.emails.length === 0 && rule.emailDomains.length === 0 && rule.claims.length === 0 && !rule.groups?.length) return undefined;
  }
  if (claims === undefined) return denied(AuthorizationMessages.noIdentity, 'authz_no_identity');
  if (rule.emails.length > 0 || rule.emailDomains.length > 0) {
    const email = claims.email;
    if (typeof email !== 'string' || email === '') return denied(AuthorizationMessages.emailNotAllowed, 'authz_email');
    if (claims.email_verified !== true && claims.email_verified !== 'true') return denied(AuthorizationMessages.emailNotVerified, 'authz_email_unverified');
    const lower = email.toLowerCase();
    const at = lower.lastIndexOf('@');
    const domain = at < 0 ? '' : lower.slice(at + 1);
    if (!rule.emails.includes(lower) && !rule.emailDomains.includes(domain)) return denied(AuthorizationMessages.emailNotAllowed, 'authz_email');
  }
  if (rule.groups && rule.groups.length > 0 && !claimMatches(claims.groups, rule.groups)) return denied(AuthorizationMessages.groupNotAllowed, 'authz_group');
  for (const c of rule.claims) {
    if (!claimMatches(claims[c.name], c.values)) return denied(AuthorizationMessages.claimNotAllowed(c.name), 'authz_claim');
  }
  return undefined;
}
