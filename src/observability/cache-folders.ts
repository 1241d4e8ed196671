/**
 * The start-up caches (validated specs, Node's bytecode) make cold starts
 * cheaper but are optional: when their folders cannot be written (a read-only
 * root file system without an emptyDir mounted there) the gateway still runs,
 * and says so in one line, since nothing else would.
 */
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { getCompileCacheDir } from 'node:module';
import path from 'node:path';

/** True when a file can be created in `dir` (made if missing). */
export function folderWritable(dir: string): boolean {
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(probe, '');
    unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}

/**
 * The one line to log about the cache folders, or undefined when all is well.
 * `specCacheDir`: the folder asked for (undefined: cache off); `specCacheUsable`: whether it was opened.
 */
export function cacheFolderWarning(specCacheDir: string | undefined, specCacheUsable: boolean): { message: string; fields: Record<string, unknown> } | undefined {
  const unwritable: string[] = [];
  let notPrivate: string | undefined;
  if (specCacheDir !== undefined && !specCacheUsable) {
    if (folderWritable(specCacheDir)) notPrivate = specCacheDir;
    else unwritable.push(specCacheDir);
  }
  const compileDir = getCompileCacheDir?.();
  if (compileDir !== undefined && !folderWritable(compileDir)) unwritable.push(compileDir);
  if (unwritable.length > 0) {
    return {
      fields: { folders: unwritable },
      message:
        `cache folder not writable, so starts are slower (nothing else changes): ${unwritable.join(', ')}. ` +
        'With a read-only root file system, mount a writable volume there (Kubernetes: an emptyDir), or point ENDPOINTS_CACHE_DIR and NODE_COMPILE_CACHE at a writable folder (ENDPOINTS_CACHE_DIR=off turns the spec cache off)',
    };
  }
  if (notPrivate !== undefined) {
    return {
      fields: { folders: [notPrivate] },
      message: `validated-spec cache not used: ${notPrivate} is not a folder private to this user (owner, and no group or other write permission)`,
    };
  }
  return undefined;
}
