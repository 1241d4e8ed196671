/**
 * `--signin-cookie-domain`: one session cookie for the services of one
 * parent domain, so a person signs in once for all of them (Pomerium's
 * shared cookie domain). The cookie then carries `Domain=`, which the
 * `__Host-` prefix forbids: over https it is named with `__Secure-` instead
 * (the browser still insists on Secure). It stays sealed or opaque, HttpOnly
 * and SameSite=Lax.
 *
 * Widening who receives the cookie does not widen who accepts the session:
 * a session is bound to its provider, client id and scope, and the scope of a
 * shared session is the parent domain (`https://.example.com`) instead of one
 * origin. A service whose issuer or client id differs refuses it and sends
 * the browser to sign in again.
 */
import type { PublicOrigin } from './origin.ts';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The domain as cookies name it (lower case, no leading dot); throws with the reason. */
export function parseCookieDomain(value: string): string {
  const d = value.trim().toLowerCase().replace(/^\./, '');
  const labels = d.split('.');
  if (d.length > 253 || !labels.every((l) => LABEL.test(l))) throw new Error(`--signin-cookie-domain ${value}: not a domain name (e.g. .example.com)`);
  if (labels.every((l) => /^\d+$/.test(l))) throw new Error(`--signin-cookie-domain ${value}: an IP address has no subdomains to share a cookie with`);
  if (labels.length < 2) throw new Error(`--signin-cookie-domain ${value}: a single label is a top-level domain; name the parent domain of the services (e.g. .example.com)`);
  return d;
}

/** True when `host` (lower case, no port; `*.` wildcards allowed) is `domain` or below it. */
export function withinDomain(host: string, domain: string): boolean {
  const h = host.startsWith('*.') ? host.slice(2) : host;
  return h === domain || h.endsWith(`.${domain}`);
}

/**
 * The start-time refusal, one line, when the shared cookie could not reach a
 * sign-in service's host (browsers drop a cookie whose Domain does not cover
 * the host that sets it); undefined when every name fits.
 */
export function cookieDomainProblem(domain: string, service: string, hostNames: readonly string[], publicUrl: string | undefined): string | undefined {
  if (publicUrl !== undefined) {
    const host = new URL(publicUrl).hostname.toLowerCase();
    if (!withinDomain(host, domain)) return `--signin-cookie-domain .${domain} does not cover --public-url ${publicUrl}: the browser would drop the session cookie; use a public URL below .${domain} or leave the cookie domain unset`;
  }
  const names = hostNames.length > 0 ? hostNames : [service.toLowerCase()];
  const outside = names.filter((n) => !withinDomain(n, domain));
  if (outside.length > 0) return `--signin-cookie-domain .${domain} is not a parent of ${outside.join(', ')} (service ${service}, which uses browser sign-in): every host name of a sign-in service must be below it`;
  return undefined;
}

/** Where a session cookie goes for one origin, and the scope its session is bound to. */
export interface CookiePlacement {
  readonly name: string;
  /** The Domain attribute; undefined: host-only. */
  readonly domain: string | undefined;
  /** What Session.or records and must match: the origin, or `scheme://.domain` when shared. */
  readonly scope: string;
}

export type PlaceCookie = (origin: PublicOrigin, base: string) => CookiePlacement;

/** Host-only without a domain; with one, shared on every origin below it (a host outside keeps its own cookie). */
export function cookiePlacement(domain: string | undefined): PlaceCookie {
  const hostOnly: PlaceCookie = (origin, base) => ({ name: origin.https ? `__Host-${base}` : base, domain: undefined, scope: origin.origin });
  if (domain === undefined) return hostOnly;
  return (origin, base) => {
    const host = new URL(origin.origin).hostname;
    if (!withinDomain(host, domain)) return hostOnly(origin, base);
    return { name: origin.https ? `__Secure-${base}` : base, domain, scope: `${origin.https ? 'https' : 'http'}://.${domain}` };
  };
}
