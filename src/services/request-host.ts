/**
 * The host a request is for, as the service table reads it: the request's own
 * Host (`:authority` on HTTP/2), or X-Forwarded-Host only when trusted
 * proxies stand in front (`--trusted-hops` > 0) — a caller could otherwise
 * pick another service's policy by sending one.
 */
import type { IncomingMessage } from 'node:http';
import { normalizeHost } from './host-table.ts';

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export type HostReader = (req: IncomingMessage) => string | undefined;

export function createHostReader(trustedHops: number): HostReader {
  const own = (req: IncomingMessage): string | undefined => normalizeHost(req.headers.host ?? one(req.headers[':authority']));
  if (trustedHops <= 0) return own;
  return (req) => {
    const forwarded = one(req.headers['x-forwarded-host']);
    if (forwarded === undefined) return own(req);
    // The nearest trusted proxy appends last.
    const comma = forwarded.lastIndexOf(',');
    return normalizeHost(comma < 0 ? forwarded : forwarded.slice(comma + 1)) ?? own(req);
  };
}
