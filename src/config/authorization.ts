import type { AuthorizationRule } from './types.ts';
import { arr, isObject } from './openapi.ts';

type ClaimValue = string | number | boolean;

function isScalar(v: unknown): v is ClaimValue {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * Compiles a validated `x-endpoints-authorization` block. An empty block (or
 * one that names nothing) yields null: the way an operation opts out of the
 * top-level rule.
 */
export function compileAuthorization(raw: unknown): AuthorizationRule | null {
  if (!isObject(raw)) return null;
  const emails = arr(raw.emails).filter((e): e is string => typeof e === 'string').map((e) => e.toLowerCase());
  const emailDomains = arr(raw.email_domains)
    .filter((d): d is string => typeof d === 'string')
    .map((d) => d.toLowerCase().replace(/^@/, ''));
  const claims = Object.entries(isObject(raw.claims) ? raw.claims : {}).map(([name, v]) => ({
    name,
    values: (Array.isArray(v) ? v : [v]).filter(isScalar),
  }));
  const groups = arr(raw.groups).filter((g): g is string => typeof g === 'string');
  const clientCertificates = arr(raw.client_certificates).filter((c): c is string => typeof c === 'string');
  if (emails.length === 0 && emailDomains.length === 0 && claims.length === 0 && groups.length === 0 && clientCertificates.length === 0) return null;
  return { emails, emailDomains, claims, ...(groups.length > 0 ? { groups } : {}), ...(clientCertificates.length > 0 ? { clientCertificates } : {}) };
}

/**
 * The rule as it binds on one operation: whole where a JWT can be verified;
 * elsewhere only its client_certificates part (a TLS client certificate needs
 * no token), or nothing.
 */
export function bindAuthorization(rule: AuthorizationRule | null, jwtCapable: boolean): AuthorizationRule | null {
  if (rule === null || jwtCapable) return rule;
  return rule.clientCertificates ? { emails: [], emailDomains: [], claims: [], clientCertificates: rule.clientCertificates } : null;
}
