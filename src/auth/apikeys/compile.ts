/**
 * Key restrictions in the API Keys service's shapes (camelCase JSON, v2
 * `Restrictions`) and their compiled form: CIDRs parsed, referrer patterns and
 * method patterns turned into matchers once per key, so a request only runs
 * comparisons.
 */
import ipaddr from 'ipaddr.js';
import { Wildcard } from './wildcard.ts';

// ---- raw shapes (as the API Keys service and the embedded store write them) ----

export interface RawApiTarget {
  readonly service?: string | null;
  readonly methods?: readonly string[] | null;
}
export interface RawAndroidApplication {
  readonly sha1Fingerprint?: string | null;
  readonly packageName?: string | null;
}
export interface RawRestrictions {
  readonly apiTargets?: readonly RawApiTarget[] | null;
  readonly browserKeyRestrictions?: { readonly allowedReferrers?: readonly string[] | null } | null;
  readonly serverKeyRestrictions?: { readonly allowedIps?: readonly string[] | null } | null;
  readonly androidKeyRestrictions?: { readonly allowedApplications?: readonly RawAndroidApplication[] | null } | null;
  readonly iosKeyRestrictions?: { readonly allowedBundleIds?: readonly string[] | null } | null;
  /** The proto oneof discriminator a protobuf client adds; informative only. */
  readonly clientRestrictions?: string | null;
}

// ---- compiled shapes ----

export interface MethodPattern {
  /** The pattern without its trailing `*`. */
  readonly core: string;
  /** `core` with a leading `<service>.` removed (matches against the bare operationId). */
  readonly rel: string;
  readonly wildcard: boolean;
  /** A wildcard whose prefix covers every method of the service (e.g. `*`, `<service>.*`). */
  readonly all: boolean;
}
export interface CompiledApiTarget {
  readonly service: string;
  /** Empty: every method of the service. */
  readonly methods: readonly MethodPattern[];
}
export interface IpRange {
  readonly addr: ipaddr.IPv4 | ipaddr.IPv6;
  readonly bits: number;
}
export interface ReferrerPattern {
  readonly source: string;
  /** null: any scheme. */
  readonly scheme: string | null;
  /** Matched against the lower-case hostname. */
  readonly host: Wildcard;
  /** null: any port; otherwise the effective port as a string. */
  readonly port: string | null;
  /** null: any path. */
  readonly path: Wildcard | null;
}
export interface AndroidApp {
  readonly packageName: string;
  /** 40 lower-case hex digits, no colons. */
  readonly sha1: string;
}
export type ClientRestriction =
  | { readonly kind: 'server'; readonly ranges: readonly IpRange[] }
  | { readonly kind: 'browser'; readonly referrers: readonly ReferrerPattern[] }
  | { readonly kind: 'android'; readonly apps: readonly AndroidApp[] }
  | { readonly kind: 'ios'; readonly bundleIds: ReadonlySet<string> };

export interface CompiledRestrictions {
  /** Empty: the key may call any API. */
  readonly apiTargets: readonly CompiledApiTarget[];
  /** null: no application restriction. */
  readonly client: ClientRestriction | null;
}

/**
 * Compiles raw restrictions. Problems (malformed entries) are appended to
 * `problems`, each naming `where` and the field; the malformed entry itself is
 * dropped, which can only make the key stricter. Strict callers (the embedded
 * store) refuse the whole input when `problems` is non-empty.
 */
export function compileRestrictions(
  raw: RawRestrictions | null | undefined,
  problems: string[],
  where = 'restrictions',
): CompiledRestrictions | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${where}: must be an object`);
    return null;
  }
  const apiTargets = compileApiTargets(raw.apiTargets, problems, `${where}.apiTargets`);
  const present: string[] = [];
  if (raw.serverKeyRestrictions) present.push('serverKeyRestrictions');
  if (raw.browserKeyRestrictions) present.push('browserKeyRestrictions');
  if (raw.androidKeyRestrictions) present.push('androidKeyRestrictions');
  if (raw.iosKeyRestrictions) present.push('iosKeyRestrictions');
  if (present.length > 1) problems.push(`${where}: only one of ${present.join(', ')} may be set`);
  let client: ClientRestriction | null = null;
  switch (present[0]) {
    case 'serverKeyRestrictions': {
      const list = stringList(raw.serverKeyRestrictions?.allowedIps, problems, `${where}.serverKeyRestrictions.allowedIps`);
      const ranges: IpRange[] = [];
      list.forEach((s, i) => {
        const r = parseRange(s);
        if (r) ranges.push(r);
        else problems.push(`${where}.serverKeyRestrictions.allowedIps[${i}]: "${s}" is not an IP address or CIDR range`);
      });
      client = { kind: 'server', ranges };
      break;
    }
    case 'browserKeyRestrictions': {
      const list = stringList(raw.browserKeyRestrictions?.allowedReferrers, problems, `${where}.browserKeyRestrictions.allowedReferrers`);
      client = { kind: 'browser', referrers: list.map(compileReferrer) };
      break;
    }
    case 'androidKeyRestrictions': {
      const f = `${where}.androidKeyRestrictions.allowedApplications`;
      const list = raw.androidKeyRestrictions?.allowedApplications;
      const apps: AndroidApp[] = [];
      if (!Array.isArray(list) || list.length === 0) problems.push(`${f}: must be a non-empty list`);
      else
        list.forEach((a: RawAndroidApplication, i) => {
          const pkg = typeof a?.packageName === 'string' ? a.packageName.trim() : '';
          const sha1 = typeof a?.sha1Fingerprint === 'string' ? normalizeSha1(a.sha1Fingerprint) : '';
          if (pkg === '') problems.push(`${f}[${i}].packageName: required`);
          else if (!/^[0-9a-f]{40}$/.test(sha1)) problems.push(`${f}[${i}].sha1Fingerprint: must be 20 bytes of hex (colons optional)`);
          else apps.push({ packageName: pkg, sha1 });
        });
      client = { kind: 'android', apps };
      break;
    }
    case 'iosKeyRestrictions': {
      const list = stringList(raw.iosKeyRestrictions?.allowedBundleIds, problems, `${where}.iosKeyRestrictions.allowedBundleIds`);
      client = { kind: 'ios', bundleIds: new Set(list) };
      break;
    }
  }
  if (apiTargets.length === 0 && client === null) return null;
  return { apiTargets, client };
}

function compileApiTargets(raw: unknown, problems: string[], where: string): CompiledApiTarget[] {
  if (raw === null || raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push(`${where}: must be a list`);
    return [];
  }
  const out: CompiledApiTarget[] = [];
  raw.forEach((t: RawApiTarget, i) => {
    const service = typeof t?.service === 'string' ? t.service.trim() : '';
    if (service === '') {
      problems.push(`${where}[${i}].service: required`);
      return;
    }
    const methods: MethodPattern[] = [];
    const rawMethods: unknown = t.methods ?? [];
    if (!Array.isArray(rawMethods)) problems.push(`${where}[${i}].methods: must be a list`);
    else
      rawMethods.forEach((m: unknown, j) => {
        if (typeof m !== 'string' || m === '' || m.indexOf('*') !== -1 && m.indexOf('*') !== m.length - 1) {
          problems.push(`${where}[${i}].methods[${j}]: must be a method name, optionally ending in "*"`);
          return;
        }
        methods.push(compileMethod(service, m));
      });
    out.push({ service, methods });
  });
  return out;
}

/** Google: "`*` may be the last symbol"; the pattern matches `<Op>` or `<service>.<Op>`. */
function compileMethod(service: string, pattern: string): MethodPattern {
  const wildcard = pattern.endsWith('*');
  const core = wildcard ? pattern.slice(0, -1) : pattern;
  const prefix = `${service}.`;
  const rel = core.startsWith(prefix) ? core.slice(prefix.length) : core;
  return { core, rel, wildcard, all: wildcard && prefix.startsWith(core) };
}

export function methodMatches(p: MethodPattern, operationId: string): boolean {
  if (!p.wildcard) return operationId === p.rel || operationId === p.core;
  return p.all || operationId.startsWith(p.rel) || operationId.startsWith(p.core);
}

function stringList(raw: unknown, problems: string[], where: string): string[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push(`${where}: must be a non-empty list`);
    return [];
  }
  const out: string[] = [];
  raw.forEach((s: unknown, i) => {
    if (typeof s === 'string' && s.trim() !== '') out.push(s.trim());
    else problems.push(`${where}[${i}]: must be a non-empty string`);
  });
  return out;
}

/** `a.b.c.d`, `a.b.c.d/n`, IPv6 with or without `/n`. Strict four-part IPv4 only. */
export function parseRange(s: string): IpRange | null {
  const slash = s.indexOf('/');
  const host = slash === -1 ? s : s.slice(0, slash);
  const addr = parseIp(host);
  if (addr === null) return null;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (slash === -1) return { addr, bits: max };
  const bitsText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  return bits <= max ? { addr, bits } : null;
}

/** A canonical address, IPv4-mapped IPv6 turned into IPv4; null when unparsable. */
export function parseIp(s: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!ipaddr.IPv6.isValid(s)) return null;
  const v6 = ipaddr.IPv6.parse(s);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

export function normalizeSha1(s: string): string {
  return s.replaceAll(':', '').trim().toLowerCase();
}

/**
 * Google's referrer syntax: `[scheme://]host[:port][/path]` where `*` is a
 * wildcard (`*.example.com` = any subdomain, not the bare domain; a lone `*`
 * = any referrer). Our reading, documented for users: no scheme = any scheme,
 * no port = any port, no path (or `/*`) = any path; a query or fragment in
 * the pattern is ignored, as Google does. Hosts compare case-insensitively.
 */
export function compileReferrer(source: string): ReferrerPattern {
  let rest = source.trim();
  let scheme: string | null = null;
  const sep = rest.indexOf('://');
  if (sep > 0) {
    const s = rest.slice(0, sep).toLowerCase();
    scheme = s === '*' ? null : s;
    rest = rest.slice(sep + 3);
  }
  const q = rest.search(/[?#]/);
  if (q !== -1) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  let hostPort = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  let port: string | null = null;
  const close = hostPort.lastIndexOf(']');
  const colon = hostPort.lastIndexOf(':');
  if (colon > close) {
    const p = hostPort.slice(colon + 1);
    port = p === '*' || p === '' ? null : p;
    hostPort = hostPort.slice(0, colon);
  }
  const hostGlob = hostPort.toLowerCase();
  // A hostname never holds '/', so a host `*` is any run of characters, as a path `*` is.
  const host = new Wildcard(hostGlob);
  const anyPath = path === '' || path === '/*' || path === '*';
  return { source, scheme, host, port, path: anyPath ? null : new Wildcard(path) };
}
