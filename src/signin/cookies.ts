/**
 * The gateway's two cookies and their attributes. Over https they carry the
 * `__Host-` prefix (the browser then insists on Secure, Path=/ and no
 * Domain, so no sibling subdomain can plant or read them); over plain http
 * (loopback development) they are neither prefixed nor Secure, which
 * browsers would refuse there. A session cookie shared by a parent domain
 * (--signin-cookie-domain, cookie-domain.ts) carries Domain and `__Secure-`.
 */
export const SESSION_COOKIE = 'endpoints_session';
export const FLOW_COOKIE = 'endpoints_signin';

export function cookieName(base: string, https: boolean): string {
  return https ? `__Host-${base}` : base;
}

/** The names the gateway owns, in either form: always removed from what goes upstream. */
const OWNED = new Set([SESSION_COOKIE, FLOW_COOKIE, `__Host-${SESSION_COOKIE}`, `__Host-${FLOW_COOKIE}`, `__Secure-${SESSION_COOKIE}`]);

/** The value of cookie `name` in a Cookie header (the first one: a duplicate planted later loses). */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const all = Array.isArray(header) ? header.join('; ') : header;
  for (const part of all.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Cookie header without the gateway's cookies; undefined when nothing else is left. */
export function withoutOwnedCookies(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const all = Array.isArray(header) ? header.join('; ') : header;
  const kept = all
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !OWNED.has(p.slice(0, Math.max(0, p.indexOf('='))).trim()));
  return kept.length > 0 ? kept.join('; ') : undefined;
}

export function hasOwnedCookie(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const all = Array.isArray(header) ? header.join(';') : header;
  return all.includes(SESSION_COOKIE) || all.includes(FLOW_COOKIE);
}

export function setCookie(name: string, value: string, maxAgeS: number, https: boolean, domain?: string): string {
  return `${name}=${value}; Path=/${domain ? `; Domain=${domain}` : ''}; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`;
}

export function clearCookie(name: string, https: boolean, domain?: string): string {
  return `${name}=; Path=/${domain ? `; Domain=${domain}` : ''}; Max-Age=0; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`;
}
