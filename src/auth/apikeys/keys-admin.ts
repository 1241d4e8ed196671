/**
 * `keys create|list|revoke` on an embedded store file (the lead's CLI parses
 * argv and prints). Writes are atomic (temp file + rename) with mode 0600;
 * YAML files are edited as documents, so comments survive.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { isSeq, parseDocument, type Document } from 'yaml';
import type { RawRestrictions } from './compile.ts';
import { isJsonPath, parseKeyFile, type StoredKeyEntry } from './key-file.ts';
import { fingerprint, hashKey } from './key-record.ts';

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

  const file = await openFile(storePath);
  if (file.entries.some((e) => e.name === entry.name)) throw new Error(`a key named "${entry.name}" already exists`);
  file.add(entry);
  await file.save(); // validates the result before writing
  return { key, entry };
}

export async function listKeys(storePath: string): Promise<KeyListing[]> {
  const file = await openFile(storePath, false);
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
  const file = await openFile(storePath, false);
  const id = nameOrFingerprint.trim();
  let idx = file.entries.findIndex((e) => e.name === id);
  if (idx === -1 && /^[0-9a-f]{8,64}$/i.test(id)) {
    const matches = file.entries.flatMap((e, i) => (e.sha256.startsWith(id.toLowerCase()) ? [i] : []));
    if (matches.length > 1) throw new Error(`"${id}" matches ${matches.length} keys; use the name`);
    idx = matches[0] ?? -1;
  }
  if (idx === -1) return false;
  file.remove(idx);
  await file.save();
  return true;
}

interface OpenFile {
  readonly entries: readonly StoredKeyEntry[];
  add(entry: StoredKeyEntry): void;
  remove(index: number): void;
  save(): Promise<void>;
}

async function openFile(path: string, createIfMissing = true): Promise<OpenFile> {
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !createIfMissing) throw err;
  }
  const entries = text === null ? [] : [...parseKeyFile(text, path).entries];
  if (isJsonPath(path)) {
    const obj = text === null ? { keys: [] as unknown[] } : (JSON.parse(text) as { keys: unknown[] });
    return {
      entries,
      add: (e) => obj.keys.push(e),
      remove: (i) => obj.keys.splice(i, 1),
      save: () => writeChecked(path, `${JSON.stringify(obj, null, 2)}\n`),
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
    save: () => writeChecked(path, doc.toString()),
  };
}

async function writeChecked(path: string, text: string): Promise<void> {
  parseKeyFile(text, path); // never write a file the store would refuse
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
