/**
 * Files re-read when they change: certificates and keys rotated by
 * cert-manager or a Kubernetes Secret. Their folders are watched, not the
 * files: a Secret is replaced by a symlink swap, an editor by a rename, which
 * a watch on the file itself would lose. A burst of events makes one read;
 * only new bytes are reported.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface WatchedFiles {
  close(): void;
}

/** Reads `files` after each change in their folders; `onChange` gets their new contents (in order) when any differs. */
export function watchFiles(files: readonly string[], first: readonly Buffer[], onChange: (contents: Buffer[]) => void, onError: (err: Error) => void): WatchedFiles {
  let last = first;
  let timer: NodeJS.Timeout | undefined;
  let reading = Promise.resolve();
  const check = async (): Promise<void> => {
    let next: Buffer[];
    try {
      next = await Promise.all(files.map((f) => readFile(f)));
    } catch (err) {
      // Mid-rotation a file may be missing for a moment: the next event reads again.
      return onError(err as Error);
    }
    if (next.every((b, i) => b.equals(last[i]!))) return;
    last = next;
    onChange(next);
  };
  const onEvent = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void (reading = reading.then(check)), 100);
    timer.unref();
  };
  const watchers: FSWatcher[] = [...new Set(files.map((f) => path.dirname(path.resolve(f))))].map((dir) => {
    const w = watch(dir, onEvent);
    w.on('error', (err) => onError(err));
    w.unref();
    return w;
  });
  return {
    close: () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
