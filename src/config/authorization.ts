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
  if (emails.length === 0 && emailDomains.length === 0 && claims.length === 0 && groups.length === 0) return null;
  return groups.length > 0 ? { emails, emailDomains, claims, groups } : { emails, emailDomains, claims };
}
