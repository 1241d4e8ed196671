/**
 * The embedded key store: keys kept only as SHA-256 hashes in a YAML or JSON
 * file (format: see key-file.ts). Reloaded when the file's content changes,
 * whatever the mechanism: any event in its folder (in-place edits, rename over
 * it, and Kubernetes Secret/ConfigMap updates, where the kubelet swaps a
 * `..data` symlink and no event names the file) triggers a re-read, as does a
 * periodic check (for changes no event reports, e.g. behind a symlink into
 * another folder, or on network file systems); the keys are swapped only when
 * the content's digest changed. A broken file keeps the last good keys and is
 * logged once.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDuration } from '../../duration.ts';
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

/** Wait after a folder event before re-reading, so a burst of events (a kubelet update is several) costs one read. */
const SETTLE_MS = 100;
/** Default period of the fallback check; ENDPOINTS_KEYS_POLL_INTERVAL (a duration, `0` = off) overrides it. */
export const DEFAULT_POLL_MS = 10_000;

export interface FileKeyStoreOptions {
  /** Follow changes (folder events and the periodic check). Default true. */
  watch?: boolean;
  /** Period of the fallback check in ms (0: none). Default ENDPOINTS_KEYS_POLL_INTERVAL, else DEFAULT_POLL_MS. */
  pollMs?: number;
  log?: Logger;
}

const digestOf = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Loads `path` (throws KeyFileError/IO errors if the first load fails) and, unless `watch: false`, follows its changes. */
export async function createFileKeyStore(path: string, opts: FileKeyStoreOptions = {}): Promise<FileKeyStore> {
  const log = opts.log ?? NOOP_LOGGER;
  // readFile follows symlinks, so this is the content the path resolves to now.
  const first = await readFile(path);
  let slots = toSlots(parseKeyFile(first.toString('utf8'), path).records);
  /** Digest of the last content acted on, valid or not: each version is parsed (and a bad one logged) once. */
  let seen = digestOf(first);
  /** Last read failure logged, so a missing file is not logged at every check. */
  let unreadable: string | null = null;
  const listeners: (() => void)[] = [];
  let watcher: FSWatcher | null = null;
  let poller: NodeJS.Timeout | null = null;
  let timer: NodeJS.Timeout | null = null;
  let reloading: Promise<void> | null = null;
  let again = false;

  async function reloadOnce(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (why !== unreadable) log.error({ path, err: why }, 'key store file unreadable; keeping the last good keys');
      unreadable = why;
      return;
    }
    unreadable = null;
    const digest = digestOf(bytes);
    if (digest === seen) return;
    seen = digest;
    try {
      const parsed = parseKeyFile(bytes.toString('utf8'), path);
      slots = toSlots(parsed.records);
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
    // Every event counts, whatever it names: the kubelet's names only
    // `..data`, `..data_tmp` and timestamped folders. The digest filters out
    // events that changed nothing (temp files, the keys commands' lock).
    // At most one re-read per SETTLE_MS (not reset by each event, so a busy
    // folder cannot postpone it forever); a change during a read gets another.
    watcher = watch(dirname(path), { persistent: false }, () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        void reload();
      }, SETTLE_MS);
    });
    watcher.on('error', (err) => log.error({ path, err: err.message }, 'key store watch failed; the periodic check goes on'));
    const every = opts.pollMs ?? pollFromEnv(log);
    if (every > 0) {
      poller = setInterval(() => void reload(), every);
      poller.unref();
    }
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
      if (poller) clearInterval(poller);
      poller = null;
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

function pollFromEnv(log: Logger): number {
  const raw = process.env.ENDPOINTS_KEYS_POLL_INTERVAL;
  if (raw === undefined || raw === '') return DEFAULT_POLL_MS;
  const ms = parseDuration(raw);
  if (ms !== undefined) return ms;
  log.warn({ value: raw }, `ENDPOINTS_KEYS_POLL_INTERVAL is not a duration; checking the key store every ${DEFAULT_POLL_MS / 1000} s`);
  return DEFAULT_POLL_MS;
}
