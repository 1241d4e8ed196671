/**
 * The embedded key store: keys kept only as SHA-256 hashes in a YAML or JSON
 * file (format: see key-file.ts). Reloaded when the file changes (fs.watch on
 * its directory, so atomic replace-by-rename is seen) and on reload(); a
 * broken file keeps the last good keys and logs why.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { parseKeyFile, KeyFileError } from './key-file.ts';
import { NOOP_LOGGER, type KeyRecord, type Logger } from './key-record.ts';
import type { KeyStore } from './store.ts';

export interface FileKeyStore extends KeyStore {
  /** Re-reads the file now; keeps the current keys (and logs) if it is broken. */
  reload(): Promise<void>;
  /** Number of keys currently loaded. */
  readonly size: number;
}

interface Slot {
  readonly record: KeyRecord;
  readonly digest: Buffer;
}

const DEBOUNCE_MS = 100;

/** Loads `path` (throws KeyFileError/IO errors if the first load fails) and, unless `watch: false`, follows its changes. */
export async function createFileKeyStore(path: string, opts: { watch?: boolean; log?: Logger } = {}): Promise<FileKeyStore> {
  const log = opts.log ?? NOOP_LOGGER;
  let lastText: string | null = null;
  let slots = await load(path);
  const listeners: (() => void)[] = [];
  let watcher: FSWatcher | null = null;
  let timer: NodeJS.Timeout | null = null;
  let reloading: Promise<void> | null = null;
  let again = false;

  async function load(p: string): Promise<Map<string, Slot>> {
    const text = await readFile(p, 'utf8');
    lastText = text;
    return toSlots(parseKeyFile(text, p).records);
  }

  async function reloadOnce(): Promise<void> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      log.error({ path, err: err instanceof Error ? err.message : String(err) }, 'key store file unreadable; keeping the last good keys');
      return;
    }
    if (text === lastText) return;
    try {
      const parsed = parseKeyFile(text, path);
      slots = toSlots(parsed.records);
      lastText = text;
      log.info({ path, keys: slots.size }, 'key store reloaded');
      for (const l of listeners) l();
    } catch (err) {
      const problems = err instanceof KeyFileError ? err.problems : [String(err)];
      log.error({ path, problems }, 'key store file is invalid; keeping the last good keys');
    }
  }

  // Serialize reloads; a change during a reload schedules one more.
  function reload(): Promise<void> {
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = (async () => {
      do {
        again = false;
        await reloadOnce();
      } while (again);
      reloading = null;
    })();
    return reloading;
  }

  if (opts.watch !== false) {
    const file = basename(path);
    watcher = watch(dirname(path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void reload();
      }, DEBOUNCE_MS);
    });
    watcher.on('error', (err) => log.error({ path, err: err.message }, 'key store watch failed; use reload()'));
  }

  return {
    async lookup(_key: string, keyHash: string): Promise<KeyRecord | null> {
      const slot = slots.get(keyHash);
      if (slot === undefined) return null;
      // The map lookup is by the hash (timing there reveals nothing about the
      // key); the final comparison is constant-time anyway.
      const digest = Buffer.from(keyHash, 'hex');
      return digest.length === slot.digest.length && timingSafeEqual(digest, slot.digest) ? slot.record : null;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    reload,
    get size() {
      return slots.size;
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
      watcher?.close();
      watcher = null;
    },
  };
}

function toSlots(records: ReadonlyMap<string, KeyRecord>): Map<string, Slot> {
  const out = new Map<string, Slot>();
  for (const [hash, record] of records) out.set(hash, { record, digest: Buffer.from(hash, 'hex') });
  return out;
}
