/**
 * The gateway's external origin, for the redirect URI and the same-origin
 * checks. `--public-url` names it; without it, it is read from the request
 * only when trusted proxies stand in front (`--trusted-hops` > 0: Cloud Run's
 * front end and Google's load balancers route by Host and set
 * X-Forwarded-Proto themselves). X-Forwarded-Host is never read (front ends
 * pass a caller's along), and without trusted proxies neither is Host, so
 * nobody can make the gateway name a redirect URI on another host.
 */
import type { IncomingMessage } from 'node:http';

export interface PublicOrigin {
  /** `https://app.example.com` (no trailing slash). */
  readonly origin: string;
  readonly https: boolean;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Parses --public-url; throws with a reason when it is not an origin. */
export function parsePublicUrl(url: string): PublicOrigin {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--public-url ${url}: not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`--public-url ${url}: must be http:// or https://`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) throw new Error(`--public-url ${url}: give the origin only (scheme://host[:port])`);
  return { origin: u.origin, https: u.protocol === 'https:' };
}

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}

export type OriginResolver = (req: IncomingMessage) => PublicOrigin | undefined;

export function createOriginResolver(publicUrl: string | undefined, trustedHops: number): OriginResolver {
  if (publicUrl) {
    const fixed = parsePublicUrl(publicUrl);
    return () => fixed;
  }
  if (trustedHops <= 0) return () => undefined;
  return (req) => {
    const proto = first(req.headers['x-forwarded-proto']) ?? 'https';
    const host = req.headers.host;
    if ((proto !== 'https' && proto !== 'http') || !host || !HOST.test(host)) return undefined;
    return { origin: `${proto}://${host.toLowerCase()}`, https: proto === 'https' };
  };
}
