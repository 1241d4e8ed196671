/**
 * Which service a host name belongs to when several share one gateway: an
 * exact map, then `*.` wildcards (the longest suffix wins, as Envoy's virtual
 * hosts and Pomerium's routes match), then the default service, if any.
 * Built once at start; a lookup is one map read for an exact name.
 */

export interface HostEntry<T> {
  /** Lower-case host names, exact (`api.example.com`) or wildcard (`*.example.com`). */
  readonly names: readonly string[];
  readonly value: T;
  /** Who declared the names, for the conflict message. */
  readonly owner: string;
}

export interface HostTable<T> {
  /** The value for a request's host (already normalized by normalizeHost), else the default. */
  pick(host: string | undefined): T | undefined;
}

/** A host name as the table keys it: lower case, no port, no trailing dot; undefined when there is none. */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end < 0 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h === '' ? undefined : h;
}

/** Throws, naming both owners, when two services claim the same name. */
export function buildHostTable<T>(entries: readonly HostEntry<T>[], fallback: T | undefined): HostTable<T> {
  const exact = new Map<string, T>();
  const wild = new Map<string, T>();
  const owners = new Map<string, string>();
  for (const e of entries) {
    for (const raw of e.names) {
      const name = raw.toLowerCase();
      const isWild = name.startsWith('*.');
      const key = isWild ? name.slice(1) : normalizeHost(name);
      if (key === undefined || key === '.') continue;
      const table = isWild ? wild : exact;
      const other = owners.get(name);
      if (other !== undefined && other !== e.owner) throw new Error(`host ${name} is named by two services: ${other} and ${e.owner}`);
      owners.set(name, e.owner);
      table.set(key, e.value);
    }
  }
  // Longest suffix first: `*.api.example.com` wins over `*.example.com`.
  const suffixes = [...wild.entries()].sort((a, b) => b[0].length - a[0].length);
  return {
    pick(host) {
      if (host === undefined) return fallback;
      const hit = exact.get(host);
      if (hit !== undefined) return hit;
      for (const [suffix, value] of suffixes) if (host.endsWith(suffix) && host.length > suffix.length) return value;
      return fallback;
    },
  };
}
