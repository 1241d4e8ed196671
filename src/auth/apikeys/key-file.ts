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
 *
 * YAML in the block style the `keys` commands write is read by a fast
 * reader (key-yaml.ts), one entry at a time; other YAML goes to the general
 * parser, which needs far more time and memory, so only up to
 * YAML_FALLBACK_MAX_BYTES. JSON is read whole (JSON.parse), in the memory
 * the loading worker has.
 */
import { parse as parseYaml } from 'yaml';
import { compileRestrictions, type CompiledRestrictions, type RawRestrictions } from './compile.ts';
import type { KeyRecord } from './key-record.ts';
import { NotInSubset, scanKeyList, type ItemVisitor, type KeyListLayout } from './key-yaml.ts';

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

/** Largest YAML file handed to the general parser (it needs ~100 times the file's size in memory). */
export const YAML_FALLBACK_MAX_BYTES = 1024 * 1024;
/** Problems listed at most; the rest are counted (a broken 100,000-key file must not make a 100,000-item log line). */
const MAX_PROBLEMS = 50;

const ENTRY_FIELDS = new Set(['sha256', 'project', 'projectId', 'name', 'displayName', 'createTime', 'restrictions']);
const RESTRICTION_FIELDS = new Set([
  'apiTargets', 'browserKeyRestrictions', 'serverKeyRestrictions', 'androidKeyRestrictions', 'iosKeyRestrictions',
]);
const NOT_A_KEY_LIST = 'must be a mapping with a "keys" list';

/**
 * Reads the `keys` items of a store file's text, calling `visit` with each;
 * throws KeyFileError when the text is not a store file at all.
 */
export function readKeyItems(text: string, path: string, visit: ItemVisitor): KeyListLayout {
  if (!isJsonPath(path)) {
    try {
      const layout = scanKeyList(text, visit);
      if (!layout.mapping || layout.style === 'absent') throw new KeyFileError(path, [NOT_A_KEY_LIST]);
      return layout;
    } catch (err) {
      if (!(err instanceof NotInSubset)) throw err;
      if (text.length > YAML_FALLBACK_MAX_BYTES) {
        throw new KeyFileError(path, [
          `${err.message}: the fast reader takes YAML as the keys commands write it (block style, one-line values), and a file over ${YAML_FALLBACK_MAX_BYTES / 1024 / 1024} MiB must be in that form (or JSON, a .json file) to be read`,
        ]);
      }
    }
  }
  let doc: unknown;
  try {
    doc = isJsonPath(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new KeyFileError(path, [`not valid ${isJsonPath(path) ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(list)) throw new KeyFileError(path, [NOT_A_KEY_LIST]);
  (list as unknown[]).forEach((item, i) => visit(item, i, -1, -1));
  return { style: 'flow', itemIndent: 0, end: -1, mapping: true };
}

/** A checked entry and its compiled restrictions. */
export interface CheckedEntry {
  readonly entry: StoredKeyEntry;
  readonly restrictions: CompiledRestrictions | null;
}

/** Validates entries one at a time (uniqueness across them included); `finish()` throws KeyFileError listing the problems. */
export class EntryChecker {
  readonly #path: string;
  readonly #hashes = new Set<string>();
  readonly #names = new Set<string>();
  readonly #problems: string[] = [];
  #more = 0;

  constructor(path: string) {
    this.#path = path;
  }

  /** The entry, or null when it has problems (recorded). */
  check(raw: unknown, i: number): CheckedEntry | null {
    const e = raw as Record<string, unknown> | null;
    const label = `keys[${i}]${typeof e?.name === 'string' ? ` (${e.name})` : ''}`;
    const problems: string[] = [];
    const out = checkEntry(e, label, this.#hashes, this.#names, problems);
    for (const p of problems) {
      if (this.#problems.length < MAX_PROBLEMS) this.#problems.push(p);
      else this.#more++;
    }
    if (out === null) return null;
    this.#hashes.add(out.entry.sha256);
    this.#names.add(out.entry.name);
    return out;
  }

  /** Counts an entry already checked (one kept from a file read before) for uniqueness, without checking it again. */
  known(entry: Pick<StoredKeyEntry, 'sha256' | 'name'>): void {
    this.#hashes.add(entry.sha256);
    this.#names.add(entry.name);
  }

  finish(): void {
    if (this.#problems.length === 0) return;
    throw new KeyFileError(this.#path, this.#more > 0 ? [...this.#problems, `… and ${this.#more} more problem(s)`] : this.#problems);
  }
}

function checkEntry(
  e: Record<string, unknown> | null,
  label: string,
  hashes: ReadonlySet<string>,
  names: ReadonlySet<string>,
  problems: string[],
): CheckedEntry | null {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) {
    problems.push(`${label}: must be a mapping`);
    return null;
  }
  for (const f of Object.keys(e)) if (!ENTRY_FIELDS.has(f)) problems.push(`${label}.${f}: unknown field`);
  const sha256 = typeof e.sha256 === 'string' ? e.sha256.toLowerCase() : '';
  if (!/^[0-9a-f]{64}$/.test(sha256)) problems.push(`${label}.sha256: must be 64 hex digits (the SHA-256 of the key)`);
  else if (hashes.has(sha256)) problems.push(`${label}.sha256: duplicate of another entry`);
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
  if (problems.length !== 0) return null;
  const entry: StoredKeyEntry = { sha256, project: project as string, name: name as string };
  if (typeof e.displayName === 'string') entry.displayName = e.displayName;
  if (typeof e.projectId === 'string') entry.projectId = e.projectId;
  if (createTime !== undefined) entry.createTime = createTime;
  if (rawR) entry.restrictions = rawR;
  return { entry, restrictions };
}

/** The record the gateway serves for a checked entry. */
export const recordOf = (c: CheckedEntry): KeyRecord => ({
  name: c.entry.name,
  project: c.entry.project,
  displayName: c.entry.displayName ?? c.entry.name,
  restrictions: c.restrictions,
});

/** Parses and validates the whole file; throws KeyFileError listing every problem. */
export function parseKeyFile(text: string, path: string): ParsedKeyFile {
  const entries: StoredKeyEntry[] = [];
  const records = new Map<string, KeyRecord>();
  const checker = new EntryChecker(path);
  readKeyItems(text, path, (raw, i) => {
    const c = checker.check(raw, i);
    if (c === null) return;
    entries.push(c.entry);
    records.set(c.entry.sha256, recordOf(c));
  });
  checker.finish();
  return { entries, records };
}

/** A file's entries with where each lies in the text (start, end pairs; -1 when not block YAML), for editing. */
export interface KeyEntriesInText {
  readonly entries: readonly StoredKeyEntry[];
  /** Item i spans spans[2i] to spans[2i+1]. */
  readonly spans: readonly number[];
  readonly layout: KeyListLayout;
}

/**
 * `full: false` keeps of each entry only its hash, project and name (what the
 * edits need), so editing a 100,000-key file fits the CLI's heap.
 */
export function readKeyEntries(text: string, path: string, { full = true }: { full?: boolean } = {}): KeyEntriesInText {
  const entries: StoredKeyEntry[] = [];
  const spans: number[] = [];
  const checker = new EntryChecker(path);
  const layout = readKeyItems(text, path, (raw, i, start, end) => {
    const c = checker.check(raw, i);
    if (c === null) return;
    entries.push(full ? c.entry : { sha256: c.entry.sha256, project: c.entry.project, name: c.entry.name });
    spans.push(start, end);
  });
  checker.finish();
  return { entries, spans, layout };
}
