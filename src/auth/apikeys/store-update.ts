/**
 * Read-modify-write of the embedded store file, safe against concurrent
 * `keys` commands: one writer at a time (proper-lockfile on a sibling
 * `<file>.lock`), and the new content lands atomically (temp file in the same
 * folder, fsync, rename), so a command that succeeded took effect and the
 * gateway never reads half a file.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { lock } from 'proper-lockfile';

/** Mode of a store file created from scratch: it lists key hashes, so owner only. */
const NEW_FILE_MODE = 0o600;

// A holder keeps the lock's mtime fresh every STALE_MS/2; a lock older than
// that was left by a crashed command and is taken over.
const STALE_MS = 5_000;
/** How long a command waits for other commands before giving up (the lock is held for milliseconds per command). */
export const LOCK_WAIT_MS = 10_000;

export class StoreUpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUpdateError';
  }
}

/**
 * Runs `change` on the file's current text (null when it does not exist) under
 * the store's lock and writes what it returns (nothing when it returns null).
 * `change` may throw to abort without writing. Returns `change`'s result.
 */
export async function updateStoreFile<T>(path: string, change: (text: string | null) => { text: string | readonly string[] | null; result: T }): Promise<T> {
  // Write where the file really is: replacing a symlink by a regular file would
  // cut it from its target (and on a Kubernetes mount the target is read-only anyway).
  const file = await realpath(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return path;
    throw err;
  });
  const dir = dirname(file);
  await access(dir, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    // The lock below would retry this for LOCK_WAIT_MS; say it now.
    throw new StoreUpdateError(
      err.code === 'ENOENT'
        ? `cannot change ${path}: folder ${dir} does not exist`
        : err.code === 'EROFS'
        ? `cannot change ${path}: ${dir} is a read-only file system (as Kubernetes Secret and ConfigMap mounts are: change the file the Secret is made from, then update the Secret); nothing was changed`
        : `cannot change ${path}: ${dir} is not writable (${err.code ?? err.message}); nothing was changed`,
    );
  });

  const lockfilePath = `${file}.lock`;
  const held: { lost: Error | null } = { lost: null };
  let release: () => Promise<void>;
  try {
    release = await lock(file, {
      realpath: false, // the file may not exist yet; `file` is already resolved
      lockfilePath,
      stale: STALE_MS,
      retries: { retries: 1_000, maxRetryTime: LOCK_WAIT_MS, factor: 1.5, minTimeout: 20, maxTimeout: 200, randomize: true },
      onCompromised: (err) => {
        held.lost = err;
      },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ELOCKED') {
      throw new StoreUpdateError(
        `cannot change ${path}: another keys command held its lock (${lockfilePath}) for over ${LOCK_WAIT_MS / 1000} s; nothing was changed, try again`,
      );
    }
    throw new StoreUpdateError(`cannot lock ${path} (${lockfilePath}): ${e.message}; nothing was changed`);
  }

  try {
    let text: string | null = null;
    let mode = NEW_FILE_MODE;
    try {
      text = await readFile(file, 'utf8');
      mode = (await stat(file)).mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const out = change(text);
    if (out.text !== null) {
      if (held.lost) throw lockLost(path, held.lost);
      await writeAtomically(file, out.text, mode, () => held.lost);
    }
    return out.result;
  } finally {
    await release().catch(() => {}); // already released when compromised
  }
}

function lockLost(path: string, cause: Error): StoreUpdateError {
  return new StoreUpdateError(`lost the lock on ${path} (${cause.message}); nothing was changed, try again`);
}

/** `text` in pieces is written piece by piece: a large file's new content is never one more string of its size. */
async function writeAtomically(file: string, text: string | readonly string[], mode: number, lost: () => Error | null): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      if (typeof text === 'string') await fh.writeFile(text, 'utf8');
      else for (const piece of text) if (piece !== '') await fh.write(piece, null, 'utf8');
      await fh.chmod(mode); // `open`'s mode is filtered by the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    const cause = lost();
    if (cause) throw lockLost(file, cause);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // The rename is durable once the folder is synced; not every platform can open a folder.
  const d = await open(dir, 'r').catch(() => null);
  if (d) await d.sync().catch(() => {}).finally(() => d.close());
}
