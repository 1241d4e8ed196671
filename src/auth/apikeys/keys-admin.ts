/**
 * `keys create|list|revoke` on an embedded store file (the lead's CLI parses
 * argv and prints). Changes go through updateStoreFile (locked against
 * concurrent commands, atomic, mode kept; 0600 for a new file); YAML files are
 * edited as documents, so comments survive.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isSeq, parseDocument, stringify, type Document } from 'yaml';
import type { RawRestrictions } from './compile.ts';
import { EntryChecker, isJsonPath, parseKeyFile, readKeyEntries, YAML_FALLBACK_MAX_BYTES, type KeyEntriesInText, type StoredKeyEntry } from './key-file.ts';
import { NotInSubset, scanKeyList } from './key-yaml.ts';
import { fingerprint, hashKey } from './key-record.ts';
import { updateStoreFile } from './store-update.ts';
import { checkKnownKeyValue } from './known-key-value.ts';
import { checkProjectNumber, ensureStoreFolder, restrictionsFromFlags } from './key-flags.ts';

export interface CreateKeyOptions {
  project: string;
  /** Unique id; default `key-<fingerprint>`. */
  name?: string;
  displayName?: string;
  /** apiTargets, one per service, all methods. */
  services?: readonly string[];
  allowedIps?: readonly string[];
  allowedReferrers?: readonly string[];
  /** `PACKAGE:SHA1` each (androidKeyRestrictions). */
  androidApps?: readonly string[];
  /** iosKeyRestrictions.allowedBundleIds. */
  iosBundleIds?: readonly string[];
  /** The consumer project's id, recorded beside its number for people; never sent. */
  projectId?: string;
  /** A known key value (a CI fixture's) instead of a generated one; checked by checkKnownKeyValue. */
  key?: string;
}

export interface KeyListing {
  readonly name: string;
  readonly project: string;
  readonly projectId?: string;
  readonly displayName: string;
  readonly fingerprint: string;
  readonly createTime: string | undefined;
  readonly restrictions: RawRestrictions | undefined;
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A new key in Google's format: `AIza` + 35 URL-safe characters, from crypto.randomBytes. */
export function generateApiKey(): string {
  // 64 symbols: each random byte's low 6 bits pick one uniformly.
  const bytes = randomBytes(35);
  let out = 'AIza';
  for (const b of bytes) out += KEY_ALPHABET[b & 63];
  return out;
}

/**
 * Adds a new key to the store file (created if absent) and returns the key —
 * the only time it exists outside the caller's hands; only its hash is written.
 */
export async function createKey(storePath: string, opts: CreateKeyOptions): Promise<{ key: string; entry: StoredKeyEntry }> {
  if (!opts.project || opts.project.trim() === '') throw new Error('--project is required');
  if (opts.key !== undefined) checkKnownKeyValue(opts.key);
  const key = opts.key ?? generateApiKey();
  const entry = newKeyEntry(key, opts);
  await ensureStoreFolder(storePath);
  await updateStoreFile(storePath, (text) => {
    const file = editable(storePath, text);
    if (file.entries.some((e) => e.name === entry.name)) throw new Error(`a key named "${entry.name}" already exists`);
    const same = file.entries.find((e) => e.sha256 === entry.sha256);
    if (same) throw new Error(`this key value is already in the store (as "${same.name}")`);
    file.add(entry);
    return { text: file.serialize(), result: undefined };
  });
  return { key, entry };
}

/** The stored entry (hash, never the key) for `key` with the options' name and restrictions. */
export function newKeyEntry(key: string, opts: CreateKeyOptions): StoredKeyEntry {
  const sha256 = hashKey(key);
  const entry: StoredKeyEntry = { sha256, project: checkProjectNumber(opts.project), name: opts.name ?? `key-${fingerprint(sha256)}` };
  if (opts.projectId) entry.projectId = opts.projectId.trim();
  if (opts.displayName) entry.displayName = opts.displayName;
  entry.createTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const restrictions = restrictionsFromFlags(opts);
  if (restrictions) entry.restrictions = restrictions;
  return entry;
}

export async function listKeys(storePath: string): Promise<KeyListing[]> {
  // No lock: writers replace the file atomically, so a read sees one version.
  const { entries } = readKeyEntries(await readFile(storePath, 'utf8'), storePath);
  return entries.map((e) => ({
    name: e.name,
    project: e.project,
    ...(e.projectId !== undefined ? { projectId: e.projectId } : {}),
    displayName: e.displayName ?? '',
    fingerprint: fingerprint(e.sha256),
    createTime: e.createTime,
    restrictions: e.restrictions,
  }));
}

/** Removes the key named `nameOrFingerprint` (its name, or a prefix of its hash of at least 8 hex digits). False if none. */
export async function revokeKey(storePath: string, nameOrFingerprint: string): Promise<boolean> {
  const id = nameOrFingerprint.trim();
  return updateStoreFile(storePath, (text) => {
    if (text === null) throw new Error(`no key store at ${storePath}`);
    const file = editable(storePath, text);
    let idx = file.entries.findIndex((e) => e.name === id);
    if (idx === -1 && /^[0-9a-f]{8,64}$/i.test(id)) {
      const matches = file.entries.flatMap((e, i) => (e.sha256.startsWith(id.toLowerCase()) ? [i] : []));
      if (matches.length > 1) throw new Error(`"${id}" matches ${matches.length} keys; use the name`);
      idx = matches[0] ?? -1;
    }
    if (idx === -1) return { text: null, result: false };
    file.remove(idx);
    return { text: file.serialize(), result: true };
  });
}

export interface EditableFile {
  /** The file's entries; of a block-style YAML file, only their hash, project and name. */
  readonly entries: readonly StoredKeyEntry[];
  add(entry: StoredKeyEntry): void;
  remove(index: number): void;
  /** The edited file (in pieces, to write one after the other), validated: never a file the store would refuse. */
  serialize(): string | readonly string[];
}

/**
 * `text` null: a new, empty store. A block-style YAML file (what these
 * commands write) is edited as text: an added entry is appended after the
 * last, a removed one's lines are cut, and the rest of the file, comments
 * included, is left as it was; reading and writing a 100,000-key file then
 * costs a fraction of a second. Other YAML is edited as a document.
 */
export function editable(path: string, text: string | null): EditableFile {
  if (text !== null && !isJsonPath(path)) {
    const read = readKeyEntries(text, path, { full: false });
    if (read.layout.style === 'block') return textEdits(path, text, read);
  }
  const entries = text === null ? [] : [...parseKeyFile(text, path).entries];
  if (isJsonPath(path)) {
    const obj = text === null ? { keys: [] as unknown[] } : (JSON.parse(text) as { keys: unknown[] });
    return {
      entries,
      add: (e) => obj.keys.push(e),
      remove: (i) => obj.keys.splice(i, 1),
      serialize: () => checked(path, `${JSON.stringify(obj, null, 2)}\n`),
    };
  }
  const doc: Document = parseDocument(text ?? 'keys: []\n');
  return {
    entries,
    add: (e) => {
      // `keys: []` is a flow sequence; entries read better in block style.
      const seq = doc.get('keys', true);
      if (isSeq(seq)) seq.flow = false;
      doc.addIn(['keys'], doc.createNode(e));
    },
    remove: (i) => doc.deleteIn(['keys', i]),
    serialize: () => checked(path, doc.toString()),
  };
}

/** One entry as block YAML at `indent`, in the form the fast reader reads (no folded lines). */
function entryText(e: StoredKeyEntry, indent: number): string {
  const pad = ' '.repeat(indent);
  return stringify([e], { lineWidth: 0, minContentWidth: 0 })
    .split('\n')
    .map((l) => (l === '' ? l : pad + l))
    .join('\n');
}

function textEdits(path: string, text: string, read: KeyEntriesInText): EditableFile {
  const entries = [...read.entries];
  /** Each current entry's span in `text`, or -1 for an added one. */
  const spans: number[] = [];
  for (let i = 0; i < entries.length; i++) spans.push(i);
  const added: StoredKeyEntry[] = [];
  return {
    entries,
    add: (e) => {
      entries.push(e);
      spans.push(-1);
      added.push(e);
    },
    remove: (i) => {
      const [gone] = entries.splice(i, 1);
      const [span] = spans.splice(i, 1);
      if (span === -1) added.splice(added.indexOf(gone!), 1);
    },
    serialize() {
      const kept = new Set(spans);
      const removed: number[] = [];
      for (let i = 0; i < read.entries.length; i++) if (!kept.has(i)) removed.push(i);
      // No entry left: `keys:` alone would read as no list at all, so the document editor writes `keys: []`.
      if (entries.length === 0) return documentEdits(path, text, removed, added);
      const parts: string[] = [];
      let at = 0;
      for (const i of removed) {
        parts.push(text.slice(at, read.spans[2 * i]!));
        at = read.spans[2 * i + 1]!;
      }
      const end = read.layout.end;
      parts.push(text.slice(at, end));
      if (added.length > 0) {
        const more = added.map((e) => entryText(e, read.layout.itemIndent)).join('');
        // Added text must read back with the fast reader, or a large file could no longer be read.
        const back: unknown[] = [];
        try {
          scanKeyList(`keys:\n${more}`, (v) => back.push(v));
        } catch (err) {
          if (!(err instanceof NotInSubset) || text.length > YAML_FALLBACK_MAX_BYTES) throw new Error(`cannot write this entry into ${path}: ${(err as Error).message}`);
          return documentEdits(path, text, removed, added);
        }
        if (end > 0 && text[end - 1] !== '\n') parts.push('\n');
        parts.push(more);
      }
      parts.push(text.slice(end));
      // Never a file the store would refuse: the kept entries were checked when read; the new ones are checked
      // here, against them for uniqueness.
      const checker = new EntryChecker(path);
      entries.forEach((e, i) => (spans[i] === -1 ? checker.check(e, i) : checker.known(e)));
      checker.finish();
      return parts;
    },
  };
}

/** The document editor's result for these edits (no entry left, or a small file whose new entry needs more YAML than the fast reader's). */
function documentEdits(path: string, text: string, removed: readonly number[], added: readonly StoredKeyEntry[]): string {
  const doc: Document = parseDocument(text);
  for (let k = removed.length - 1; k >= 0; k--) doc.deleteIn(['keys', removed[k]!]);
  const seq = doc.get('keys', true);
  if (isSeq(seq) && seq.items.length === 0 && added.length === 0) seq.flow = true; // `keys: []`
  for (const e of added) doc.addIn(['keys'], doc.createNode(e));
  return checked(path, doc.toString());
}

function checked(path: string, text: string): string {
  parseKeyFile(text, path);
  return text;
}
