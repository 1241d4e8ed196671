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
 *
 * A large store never stalls serving: the file is hashed here in chunks,
 * and read and validated in a worker thread (key-load.ts) that hands over
 * the keys as a compact table. A file larger than `maxBytes` is refused
 * (logged once; the last good keys stay).
 */
import { createReadStream, watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { parseDuration } from '../../duration.ts';
import { KeyFileError } from './key-file.ts';
import { loadKeysOffThread } from './key-load.ts';
import { NOOP_LOGGER, type Logger } from './key-record.ts';
import type { KeyTable } from './key-table.ts';
import { watchLoop, type LoopReport } from './loop-watch.ts';
import type { KeyStore } from './store.ts';

export interface FileKeyStore extends KeyStore {
  /** Re-reads the file now; keeps the current keys (and logs) if it is broken. */
  reload(): Promise<void>;
  /** Number of keys currently loaded. */
  readonly size: number;
}

/** Wait after a folder event before re-reading, so a burst of events (a kubelet update is several) costs one read. */
const SETTLE_MS = 100;
/** Default period of the fallback check; ENDPOINTS_KEYS_POLL_INTERVAL (a duration, `0` = off) overrides it. */
export const DEFAULT_POLL_MS = 10_000;
/** Default size limit of the store file; ENDPOINTS_KEYS_MAX_SIZE (bytes, or with KiB/MiB/GiB) overrides it. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export interface FileKeyStoreOptions {
  /** Follow changes (folder events and the periodic check). Default true. */
  watch?: boolean;
  /** Period of the fallback check in ms (0: none). Default ENDPOINTS_KEYS_POLL_INTERVAL, else DEFAULT_POLL_MS. */
  pollMs?: number;
  /** Largest file accepted. Default ENDPOINTS_KEYS_MAX_SIZE, else DEFAULT_MAX_BYTES. */
  maxBytes?: number;
  log?: Logger;
}

/** SHA-256 of the file, read in chunks so a large file never blocks this thread for long. */
async function digestOfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

const tooLarge = (bytes: number, limit: number): string =>
  `${bytes} bytes, more than the ${limit} a key store may have (ENDPOINTS_KEYS_MAX_SIZE): split the keys across gateways, or raise the limit`;

/** Loads `path` (throws KeyFileError/IO errors if the first load fails) and, unless `watch: false`, follows its changes. */
export async function createFileKeyStore(path: string, opts: FileKeyStoreOptions = {}): Promise<FileKeyStore> {
  const log = opts.log ?? NOOP_LOGGER;
  const maxBytes = opts.maxBytes ?? maxBytesFromEnv(log);
  // stat follows symlinks: its errors (a missing file) name the path, as start-up's explanations expect.
  const st = await stat(path);
  if (st.size > maxBytes) throw new KeyFileError(path, [tooLarge(st.size, maxBytes)]);
  const first = await loadKeysOffThread(path, maxBytes);
  if (first.kind === 'invalid') throw new KeyFileError(path, first.problems);
  if (first.kind === 'too-large') throw new KeyFileError(path, [tooLarge(first.bytes, maxBytes)]);
  if (first.kind === 'unreadable') throw new Error(`${path}: ${first.message}`);
  let table: KeyTable = first.table;
  /** What the last version acted on was (its digest, or its stat for a file too large to read): each is loaded, or logged, once. */
  let seen = first.digest;
  /** Last read failure logged, so a missing file is not logged at every check. */
  let unreadable: string | null = null;
  const listeners: (() => void)[] = [];
  let watcher: FSWatcher | null = null;
  let poller: NodeJS.Timeout | null = null;
  let timer: NodeJS.Timeout | null = null;
  let reloading: Promise<void> | null = null;
  let again = false;
  let closed = false;

  const unreadableNow = (err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    if (why !== unreadable) log.error({ path, err: why }, 'key store file unreadable; keeping the last good keys');
    unreadable = why;
  };

  async function reloadOnce(): Promise<void> {
    const started = performance.now();
    const loop = watchLoop();
    let report: LoopReport | undefined;
    try {
      let digest: string;
      try {
        const now = await stat(path);
        if (now.size > maxBytes) {
          const marker = `too-large:${now.dev}:${now.ino}:${now.size}:${now.mtimeMs}`;
          unreadable = null;
          if (marker !== seen) log.error({ path, bytes: now.size, limit: maxBytes }, 'key store file is too large; keeping the last good keys');
          seen = marker;
          return;
        }
        digest = await digestOfFile(path);
      } catch (err) {
        unreadableNow(err);
        return;
      }
      unreadable = null;
      if (digest === seen || closed) return;
      const r = await loadKeysOffThread(path, maxBytes);
      report = loop();
      if (closed) return;
      switch (r.kind) {
        case 'loaded':
          seen = r.digest;
          table = r.table;
          // How long it took and how much serving felt it, for operators sizing a store.
          log.info(
            {
              path,
              keys: table.size,
              bytes: r.bytes,
              ms: Math.round(performance.now() - started),
              event_loop_max_delay_ms: report.maxDelayMs,
              event_loop_max_busy_ms: report.maxBusyMs,
            },
            'key store reloaded',
          );
          for (const l of listeners) l();
          return;
        case 'invalid':
          seen = r.digest ?? digest;
          log.error({ path, problems: r.problems }, 'key store file is invalid; keeping the last good keys');
          return;
        case 'too-large':
          seen = r.digest;
          log.error({ path, bytes: r.bytes, limit: maxBytes }, 'key store file is too large; keeping the last good keys');
          return;
        case 'unreadable':
          unreadableNow(new Error(r.message));
          return;
      }
    } finally {
      if (report === undefined) loop();
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
    async lookup(_key: string, keyHash: string) {
      return table.lookup(Buffer.from(keyHash, 'hex'));
    },
    onChange(listener) {
      listeners.push(listener);
    },
    reload,
    get size() {
      return table.size;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (poller) clearInterval(poller);
      poller = null;
      watcher?.close();
      watcher = null;
    },
  };
}

function pollFromEnv(log: Logger): number {
  const raw = process.env.ENDPOINTS_KEYS_POLL_INTERVAL;
  if (raw === undefined || raw === '') return DEFAULT_POLL_MS;
  const ms = parseDuration(raw);
  if (ms !== undefined) return ms;
  log.warn({ value: raw }, `ENDPOINTS_KEYS_POLL_INTERVAL is not a duration; checking the key store every ${DEFAULT_POLL_MS / 1000} s`);
  return DEFAULT_POLL_MS;
}

function maxBytesFromEnv(log: Logger): number {
  const raw = process.env.ENDPOINTS_KEYS_MAX_SIZE;
  if (raw === undefined || raw === '') return DEFAULT_MAX_BYTES;
  const m = /^\s*(\d+)\s*(KiB|MiB|GiB)?\s*$/.exec(raw);
  if (m) return Number(m[1]) * (m[2] === 'GiB' ? 2 ** 30 : m[2] === 'MiB' ? 2 ** 20 : m[2] === 'KiB' ? 2 ** 10 : 1);
  log.warn({ value: raw }, `ENDPOINTS_KEYS_MAX_SIZE is not a size (bytes, or a number with KiB, MiB or GiB); using ${DEFAULT_MAX_BYTES / 2 ** 20} MiB`);
  return DEFAULT_MAX_BYTES;
}
