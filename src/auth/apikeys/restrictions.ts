/**
 * Per-request evaluation of a key's restrictions (API targets, then the
 * application restriction), with ESP's exact answers. Runs on every request
 * against the cached, pre-compiled record: nothing here is cached per key.
 */
import { Errors, type GatewayError } from '../../errors.ts';
import {
  methodMatches,
  normalizeSha1,
  parseIp,
  type ClientRestriction,
  type CompiledApiTarget,
  type ReferrerPattern,
} from './compile.ts';
import type { KeyRecord } from './key-record.ts';

export interface RequestFacts {
  /** The service name (`ServiceConfig.serviceName`). */
  readonly serviceName: string;
  /** The operation's id (`Operation.id`); key `methods` match it or `<serviceName>.<id>`. */
  readonly operationId: string;
  /** From clientIp(); '' when unknown (never matches an IP restriction). */
  readonly clientIp: string;
  readonly referer: string | undefined;
  readonly androidPackage: string | undefined;
  readonly androidCert: string | undefined;
  readonly iosBundleId: string | undefined;
  /** The request's id, for the log lines about this request (never used to decide). */
  readonly requestId?: string | undefined;
}

/** null: allowed. Otherwise the 403 to answer with. */
export function checkRestrictions(record: KeyRecord, facts: RequestFacts): GatewayError | null {
  const r = record.restrictions;
  if (r === null) return null;
  if (r.apiTargets.length > 0 && !apiTargetAllowed(r.apiTargets, facts)) return Errors.apiTargetBlocked();
  const c = r.client;
  if (c === null) return null;
  return clientAllowed(c, facts);
}

function apiTargetAllowed(targets: readonly CompiledApiTarget[], facts: RequestFacts): boolean {
  for (const t of targets) {
    if (t.service !== facts.serviceName) continue;
    if (t.methods.length === 0) return true;
    for (const m of t.methods) if (methodMatches(m, facts.operationId)) return true;
  }
  return false;
}

function clientAllowed(c: ClientRestriction, facts: RequestFacts): GatewayError | null {
  switch (c.kind) {
    case 'server': {
      const ip = facts.clientIp === '' ? null : parseIp(facts.clientIp);
      if (ip !== null) {
        const kind = ip.kind();
        for (const range of c.ranges) {
          if (range.addr.kind() === kind && ip.match(range.addr, range.bits)) return null;
        }
      }
      return Errors.ipBlocked();
    }
    case 'browser':
      return facts.referer !== undefined && refererAllowed(c.referrers, facts.referer) ? null : Errors.refererBlocked();
    case 'android': {
      const pkg = facts.androidPackage;
      const cert = facts.androidCert;
      if (pkg === undefined || cert === undefined) return Errors.clientAppBlocked();
      const sha1 = normalizeSha1(cert);
      for (const app of c.apps) if (app.packageName === pkg && app.sha1 === sha1) return null;
      return Errors.clientAppBlocked();
    }
    case 'ios':
      return facts.iosBundleId !== undefined && c.bundleIds.has(facts.iosBundleId) ? null : Errors.clientAppBlocked();
  }
}

const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' };

function refererAllowed(patterns: readonly ReferrerPattern[], referer: string): boolean {
  const url = URL.parse(referer);
  if (url === null || url.hostname === '') return false;
  const scheme = url.protocol.slice(0, -1);
  const port = url.port !== '' ? url.port : (DEFAULT_PORT[scheme] ?? '');
  for (const p of patterns) {
    if (p.scheme !== null && p.scheme !== scheme) continue;
    if (p.port !== null && p.port !== port) continue;
    if (!p.host.test(url.hostname)) continue;
    if (p.path !== null && !p.path.test(url.pathname)) continue;
    return true;
  }
  return false;
}
