/**
 * `keys create|list|revoke` on an embedded store file (the lead's CLI parses
 * argv and prints). Changes go through updateStoreFile (locked against
 * concurrent commands, atomic, mode kept; 0600 for a new file); YAML files are
 * edited as documents, so comments survive.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isSeq, parseDocument, type Document } from 'yaml';
import type { RawRestrictions } from './compile.ts';
import { isJsonPath, parseKeyFile, type StoredKeyEntry } from './key-file.ts';
import { fingerprint, hashKey } from './key-record.ts';
import { updateStoreFile } from './store-update.ts';

export interface CreateKeyOptions {
  project: string;
  /** Unique id; default `key-<fingerprint>`. */
  name?: string;
  displayName?: string;
  /** apiTargets, one per service, all methods. */
  services?: readonly string[];
  allowedIps?: readonly string[];
  allowedReferrers?: readonly string[];
}

export interface KeyListing {
  readonly name: string;
  readonly project: string;
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
  if ((opts.allowedIps?.length ?? 0) > 0 && (opts.allowedReferrers?.length ?? 0) > 0)
    throw new Error('a key has one application restriction: --allowed-ip and --allowed-referrer cannot be combined');
  const key = generateApiKey();
  const sha256 = hashKey(key);
  const entry: StoredKeyEntry = { sha256, project: opts.project.trim(), name: opts.name ?? `key-${fingerprint(sha256)}` };
  if (opts.displayName) entry.displayName = opts.displayName;
  entry.createTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const restrictions: { -readonly [K in keyof RawRestrictions]: RawRestrictions[K] } = {};
  if (opts.services?.length) restrictions.apiTargets = opts.services.map((service) => ({ service, methods: [] }));
  if (opts.allowedIps?.length) restrictions.serverKeyRestrictions = { allowedIps: [...opts.allowedIps] };
  if (opts.allowedReferrers?.length) restrictions.browserKeyRestrictions = { allowedReferrers: [...opts.allowedReferrers] };
  if (Object.keys(restrictions).length > 0) entry.restrictions = restrictions;

  await updateStoreFile(storePath, (text) => {
    const file = editable(storePath, text);
    if (file.entries.some((e) => e.name === entry.name)) throw new Error(`a key named "${entry.name}" already exists`);
    file.add(entry);
    return { text: file.serialize(), result: undefined };
  });
  return { key, entry };
}

export async function listKeys(storePath: string): Promise<KeyListing[]> {
  // No lock: writers replace the file atomically, so a read sees one version.
  const file = editable(storePath, await readFile(storePath, 'utf8'));
  return file.entries.map((e) => ({
    name: e.name,
    project: e.project,
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

interface EditableFile {
  readonly entries: readonly StoredKeyEntry[];
  add(entry: StoredKeyEntry): void;
  remove(index: number): void;
  /** The edited file, validated: never a file the store would refuse. */
  serialize(): string;
}

/** `text` null: a new, empty store. */
function editable(path: string, text: string | null): EditableFile {
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

function checked(path: string, text: string): string {
  parseKeyFile(text, path);
  return text;
}
