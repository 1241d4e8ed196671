/**
 * The embedded key store's file: parsing and validation (shared by the store
 * and the `keys` admin commands). Format, YAML or JSON by extension
 * (`.json` → JSON, anything else → YAML):
 *
 *   keys:
 *     - sha256: <64 hex: SHA-256 of the key; the key itself is never stored>
 *       project: "123456789"        # consumer project number (quotas, X-Endpoint-API-Consumer-Number)
 *       projectId: my-project        # optional: its project id, for people (never sent)
 *       name: demo-key              # unique id, used by `keys list` / `keys revoke`
 *       displayName: Demo key       # optional
 *       createTime: 2026-11-25T00:00:00Z   # optional, informative
 *       restrictions:               # optional; the API Keys service's shapes (camelCase)
 *         apiTargets: [{ service: hello.endpoints.example.cloud.goog, methods: [] }]
 *         serverKeyRestrictions: { allowedIps: [127.0.0.1/32, "2001:db8::/32"] }
 *         # or at most one of:
 *         # browserKeyRestrictions: { allowedReferrers: ["https://*.example.com/*"] }
 *         # androidKeyRestrictions: { allowedApplications: [{ sha1Fingerprint: "DA:39:…", packageName: com.example.app }] }
 *         # iosKeyRestrictions: { allowedBundleIds: [com.example.app] }
 */
import { parse as parseYaml } from 'yaml';
import { compileRestrictions, type RawRestrictions } from './compile.ts';
import type { KeyRecord } from './key-record.ts';

export interface StoredKeyEntry {
  sha256: string;
  project: string;
  /** The project's id, informative (keys create --project-id). */
  projectId?: string;
  name: string;
  displayName?: string;
  createTime?: string;
  restrictions?: RawRestrictions;
}

export interface ParsedKeyFile {
  readonly entries: readonly StoredKeyEntry[];
  /** By SHA-256 hex. */
  readonly records: ReadonlyMap<string, KeyRecord>;
}

export class KeyFileError extends Error {
  readonly problems: readonly string[];
  constructor(path: string, problems: readonly string[]) {
    super(`${path}: ${problems.length} problem(s): ${problems.join('; ')}`);
    this.name = 'KeyFileError';
    this.problems = problems;
  }
}

export const isJsonPath = (path: string): boolean => path.toLowerCase().endsWith('.json');

const ENTRY_FIELDS = new Set(['sha256', 'project', 'projectId', 'name', 'displayName', 'createTime', 'restrictions']);
const RESTRICTION_FIELDS = new Set([
  'apiTargets', 'browserKeyRestrictions', 'serverKeyRestrictions', 'androidKeyRestrictions', 'iosKeyRestrictions',
]);

/** Parses and validates the whole file; throws KeyFileError listing every problem. */
export function parseKeyFile(text: string, path: string): ParsedKeyFile {
  let doc: unknown;
  try {
    doc = isJsonPath(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new KeyFileError(path, [`not valid ${isJsonPath(path) ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const problems: string[] = [];
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(list)) {
    throw new KeyFileError(path, ['must be a mapping with a "keys" list']);
  }
  const entries: StoredKeyEntry[] = [];
  const records = new Map<string, KeyRecord>();
  const names = new Set<string>();
  list.forEach((raw: unknown, i) => {
    const e = raw as Record<string, unknown> | null;
    const label = `keys[${i}]${typeof e?.name === 'string' ? ` (${e.name})` : ''}`;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) {
      problems.push(`${label}: must be a mapping`);
      return;
    }
    const before = problems.length;
    for (const f of Object.keys(e)) if (!ENTRY_FIELDS.has(f)) problems.push(`${label}.${f}: unknown field`);
    const sha256 = typeof e.sha256 === 'string' ? e.sha256.toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) problems.push(`${label}.sha256: must be 64 hex digits (the SHA-256 of the key)`);
    else if (records.has(sha256)) problems.push(`${label}.sha256: duplicate of another entry`);
    const project = typeof e.project === 'number' ? String(e.project) : e.project;
    if (typeof project !== 'string' || project.trim() === '') problems.push(`${label}.project: required (the consumer project number)`);
    const name = e.name;
    if (typeof name !== 'string' || name.trim() === '') problems.push(`${label}.name: required`);
    else if (names.has(name)) problems.push(`${label}.name: duplicate name`);
    if (e.displayName !== undefined && typeof e.displayName !== 'string') problems.push(`${label}.displayName: must be a string`);
    if (e.projectId !== undefined && typeof e.projectId !== 'string') problems.push(`${label}.projectId: must be a string (the project id; project holds the number)`);
    let createTime: string | undefined;
    if (e.createTime instanceof Date) createTime = e.createTime.toISOString();
    else if (typeof e.createTime === 'string') createTime = e.createTime;
    else if (e.createTime !== undefined) problems.push(`${label}.createTime: must be a timestamp`);
    const rawR = e.restrictions as RawRestrictions | null | undefined;
    if (rawR && typeof rawR === 'object' && !Array.isArray(rawR)) {
      for (const f of Object.keys(rawR)) if (!RESTRICTION_FIELDS.has(f)) problems.push(`${label}.restrictions.${f}: unknown field`);
    }
    const restrictions = compileRestrictions(rawR, problems, `${label}.restrictions`);
    if (problems.length !== before) return;
    const n = name as string;
    names.add(n);
    const entry: StoredKeyEntry = { sha256, project: project as string, name: n };
    if (typeof e.displayName === 'string') entry.displayName = e.displayName;
    if (typeof e.projectId === 'string') entry.projectId = e.projectId;
    if (createTime !== undefined) entry.createTime = createTime;
    if (rawR) entry.restrictions = rawR;
    entries.push(entry);
    records.set(sha256, { name: n, project: project as string, displayName: entry.displayName ?? n, restrictions });
  });
  if (problems.length > 0) throw new KeyFileError(path, problems);
  return { entries, records };
}
