/**
 * Worker-thread entry: reads and validates the embedded store file off the
 * serving thread and posts its keys as a KeyTable (buffers transferred, not
 * copied). See key-load.ts.
 */
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { EntryChecker, KeyFileError, readKeyItems } from './key-file.ts';
import { KeyTableBuilder, type KeyTableData } from './key-table.ts';

export interface KeyLoadInput {
  readonly path: string;
  readonly maxBytes: number;
}

export type KeyLoadOutput =
  | { readonly kind: 'loaded'; readonly digest: string; readonly bytes: number; readonly table: KeyTableData }
  | { readonly kind: 'invalid'; readonly digest: string; readonly problems: readonly string[] }
  | { readonly kind: 'too-large'; readonly digest: string; readonly bytes: number }
  | { readonly kind: 'unreadable'; readonly message: string };

const { path, maxBytes } = workerData as KeyLoadInput;

// This thread only, at a lower priority: on a busy machine the serving
// thread gets the CPU first. (Linux: /proc/thread-self names this thread's
// id, which setpriority takes; elsewhere the worker keeps the usual priority.)
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch {
  // not Linux, or not permitted: the usual priority
}

function load(bytes: Buffer): { out: KeyLoadOutput; transfer: ArrayBuffer[] } {
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length > maxBytes) return { out: { kind: 'too-large', digest, bytes: bytes.length }, transfer: [] };
  const text = bytes.toString('utf8');
  const checker = new EntryChecker(path);
  const table = new KeyTableBuilder();
  try {
    readKeyItems(text, path, (raw, i) => {
      const c = checker.check(raw, i);
      if (c) table.add(c.entry.sha256, c.entry.project, c.entry.name, c.entry.displayName ?? c.entry.name, c.entry.restrictions ?? null);
    });
    checker.finish();
  } catch (err) {
    if (err instanceof KeyFileError) return { out: { kind: 'invalid', digest, problems: err.problems }, transfer: [] };
    throw err;
  }
  const { data, transfer } = table.finish();
  return { out: { kind: 'loaded', digest, bytes: bytes.length, table: data }, transfer };
}

let result: { out: KeyLoadOutput; transfer: ArrayBuffer[] };
try {
  result = load(await readFile(path));
} catch (err) {
  result = { out: { kind: 'unreadable', message: err instanceof Error ? err.message : String(err) }, transfer: [] };
}
parentPort!.postMessage(result.out, result.transfer);
