/**
 * `keys import`: known key values (a CI fixture's) into the embedded store,
 * each stored as its SHA-256 only. The input is plain text, one key per line;
 * blank lines are skipped, and `#` starts a comment (to the end of the line). All or nothing: every line is checked first (shape,
 * strength, duplicates in the input and in the store), every problem is
 * reported by line number (never the value), and the store is written once,
 * under its lock.
 */
import { readFile } from 'node:fs/promises';
import { knownKeyValueProblem, KEY_VALUE_RULE } from './known-key-value.ts';
import { editable, newKeyEntry, type CreateKeyOptions } from './keys-admin.ts';
import type { StoredKeyEntry } from './key-file.ts';
import { hashKey } from './key-record.ts';
import { updateStoreFile } from './store-update.ts';

export class KeyImportError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`${source}: nothing imported, ${problems.length} problem(s):\n  ${problems.join('\n  ')}\na key is ${KEY_VALUE_RULE}`);
    this.name = 'KeyImportError';
    this.problems = problems;
  }
}

export interface KeyLine {
  readonly line: number;
  readonly value: string;
}

/** The key values of an import file, with their line numbers. */
export function parseKeyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    // `#` is never part of a key, so it always starts a comment.
    const hash = raw.indexOf('#');
    const value = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (value !== '') out.push({ line: i + 1, value });
  });
  return out;
}

/** The import file's text; `-` is stdin. */
export async function readKeySource(from: string): Promise<string> {
  if (from !== '-') {
    return readFile(from, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${from}: cannot read it (${err.code ?? err.message})`);
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `opts.name` names a single key only; imported keys are named `key-<fingerprint>` (or `<name>-<n>` with a name). */
export async function importKeys(
  storePath: string,
  source: string,
  text: string,
  opts: Omit<CreateKeyOptions, 'key'>,
): Promise<StoredKeyEntry[]> {
  if (!opts.project || opts.project.trim() === '') throw new Error('--project is required');
  if ((opts.allowedIps?.length ?? 0) > 0 && (opts.allowedReferrers?.length ?? 0) > 0)
    throw new Error('a key has one application restriction: --allowed-ip and --allowed-referrer cannot be combined');
  const lines = parseKeyLines(text);
  const problems: string[] = [];
  if (lines.length === 0) problems.push('no keys (one key per line; # starts a comment)');
  const seen = new Map<string, number>();
  const entries: { line: number; entry: StoredKeyEntry }[] = [];
  lines.forEach(({ line, value }, i) => {
    const problem = knownKeyValueProblem(value);
    if (problem) return void problems.push(`line ${line}: the key ${problem}`);
    const sha256 = hashKey(value);
    const first = seen.get(sha256);
    if (first !== undefined) return void problems.push(`line ${line}: the same key as line ${first}`);
    seen.set(sha256, line);
    const name = opts.name ? (lines.length === 1 ? opts.name : `${opts.name}-${i + 1}`) : undefined;
    entries.push({ line, entry: newKeyEntry(value, { ...opts, ...(name ? { name } : {}) }) });
  });
  // Checked against the store under its lock, so the report lists every problem at once.
  return updateStoreFile(storePath, (current) => {
    const file = editable(storePath, current);
    const byHash = new Map(file.entries.map((e) => [e.sha256, e.name]));
    const names = new Set(file.entries.map((e) => e.name));
    for (const { line, entry } of entries) {
      const existing = byHash.get(entry.sha256);
      if (existing !== undefined) problems.push(`line ${line}: this key is already in the store (as "${existing}")`);
      else if (names.has(entry.name)) problems.push(`line ${line}: a key named "${entry.name}" already exists`);
    }
    const lineOf = (p: string) => Number(/^line (\d+)/.exec(p)?.[1] ?? 0);
    if (problems.length > 0) throw new KeyImportError(source, problems.sort((a, b) => lineOf(a) - lineOf(b)));
    for (const { entry } of entries) file.add(entry);
    return { text: file.serialize(), result: entries.map((e) => e.entry) };
  });
}
