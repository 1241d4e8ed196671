/**
 * Which snapshot is in force, and how it changes: reloads (SIGHUP, --watch, a
 * new version in a --spec folder) are serialized, a refused one keeps the
 * snapshot served and is recorded in the config status, and what must follow
 * a swap (warming tokens and keys, the docs page, metrics) listens here.
 */
import { watch, type FSWatcher } from 'node:fs';
import { SpecError } from '../config/problems.ts';
import { RefusedVersion } from '../config/version-loader.ts';
import { createConfigStatus, type ConfigStatus } from '../config/config-status.ts';
import type { SpecSource } from '../config/versions.ts';
import type { Logger } from '../observability/logger.ts';
import type { LoadedSpec, Snapshot } from './snapshot.ts';

export type SwapListener = (next: Snapshot, previous: Snapshot) => void | Promise<void>;

export interface Reloader {
  /** The snapshot in force: what a request takes at entry. */
  current(): Snapshot;
  readonly status: ConfigStatus;
  /** Load the spec again; swap it in when valid, keep the old one otherwise. Resolves whether it swapped. */
  reload(): Promise<boolean>;
  /** Runs after each swap, in the order added; a reload resolves once they have. */
  onSwap(listener: SwapListener): void;
  close(): void;
}

export interface ReloaderParts {
  readonly first: Snapshot;
  readonly source: SpecSource;
  readonly load: () => Promise<LoadedSpec>;
  /** Builds the next snapshot from the previous one (it keeps what did not change). */
  readonly build: (loaded: LoadedSpec, previous: Snapshot) => Promise<Snapshot>;
  /** Called before a reload reads the spec (--jwks-file keys are re-read with it). */
  readonly beforeLoad?: (() => Promise<void>) | undefined;
  readonly onResult?: ((ok: boolean) => void) | undefined;
  /** Watch the spec's folder and reload when what it would load changes. */
  readonly watch: boolean;
  readonly log: Logger;
}

function described(s: Snapshot) {
  return { configId: s.configId, version: s.config.version, spec: s.file, selectedBy: s.selectedBy, operations: s.config.operations.length };
}

export function createReloader(p: ReloaderParts): Reloader {
  const { log } = p;
  let current = p.first;
  const status = createConfigStatus(described(current));
  const listeners: SwapListener[] = [];
  let queue: Promise<boolean> = Promise.resolve(true);

  const swap = async (): Promise<boolean> => {
    try {
      await p.beforeLoad?.();
      const loaded = await p.load();
      for (const w of loaded.service.config.warnings ?? []) log.warn({ spec: loaded.file }, `spec warning: ${w}`);
      const previous = current;
      current = await p.build(loaded, previous);
      p.onResult?.(true);
      const replaced = status.served(described(current));
      for (const l of listeners) await l(current, previous);
      log.info(
        { config_id: current.configId, previous_config_id: replaced, spec: current.file, operations: current.config.operations.length, service: current.config.serviceName },
        'spec reloaded',
      );
      return true;
    } catch (err) {
      p.onResult?.(false);
      const file = err instanceof RefusedVersion ? err.file : p.source.spec;
      const configId = err instanceof RefusedVersion ? err.configId : undefined;
      const serving = status.current().configId;
      if (err instanceof SpecError) {
        status.refused({ configId, spec: file, problems: err.lines(file) });
        log.error({ spec: file, config_id: configId, serving_config_id: serving, problems: err.lines(file) }, 'spec reload refused: the new spec is invalid; still serving the previous one');
      } else {
        status.refused({ configId, spec: file, problems: [(err as Error)?.message ?? String(err)] });
        log.error({ err, spec: file, serving_config_id: serving }, 'spec reload failed; still serving the previous one');
      }
      return false;
    }
  };
  // Serialized: a burst of file events makes one reload at a time.
  const reload = (): Promise<boolean> => (queue = queue.then(swap));

  // Watch the directory, not the file: editors and Kubernetes ConfigMaps replace files (rename, symlink
  // swap), which a file watch would lose. Only new bytes reload (the digest of what was last tried,
  // refused ones included): a refused spec is tried once, and unrelated files in the folder cost a look.
  let watcher: FSWatcher | undefined;
  if (p.watch) {
    let debounce: NodeJS.Timeout | undefined;
    let lastTried = `${current.file}\u0000${current.digest}`;
    watcher = watch(p.source.watchDir, () => {
      clearTimeout(debounce);
      debounce = setTimeout(async () => {
        const key = await p.source.probe();
        if (!key || key === lastTried) return;
        lastTried = key;
        void reload();
      }, 150);
      debounce.unref();
    });
    watcher.unref();
  }

  return {
    current: () => current,
    status,
    reload,
    onSwap: (l) => void listeners.push(l),
    close: () => watcher?.close(),
  };
}
