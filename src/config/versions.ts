/**
 * `--spec FOLDER`: a folder of spec files, each one config version.
 *
 * Order: by file name, compared version-wise (runs of digits as numbers, so
 * `v10.yaml` is newer than `v9.yaml`), the last name being the newest. Not by
 * modification time: a Kubernetes ConfigMap, a `git checkout`, `docker COPY`
 * or `kubectl cp` give every file the same or an arbitrary time, while a name
 * is reviewed with the file and sorts the same on every instance.
 *
 * Which version is served: the one named in the pin file (`.endpoints-pin`,
 * written by `configs rollback`), else the one `--config-id` names, else the
 * newest valid one.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSpecText } from './load.ts';
import { SpecError } from './problems.ts';
import { specDigest } from './service.ts';
import { configIdOf } from './config-id.ts';
import { obj } from './openapi.ts';

/** The pin file `configs rollback` writes: one config id (or file name) on one line. */
export const PIN_FILE = '.endpoints-pin';

const SPEC_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface VersionFile {
  /** Absolute path. */
  readonly file: string;
  readonly name: string;
  readonly mtimeMs: number;
  readonly bytes: Buffer;
  /** SHA-256 of the bytes, hex. */
  readonly digest: string;
}

/** Why a file is the one to load. */
export type SelectedBy = 'file' | 'newest' | 'pin-file' | 'config-id';

export interface Candidate {
  readonly file: string;
  readonly digest: string;
  readonly selectedBy: SelectedBy;
}

export async function isFolder(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** Version-wise name order: digit runs compare as numbers, the rest as text. */
export function compareVersionNames(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (i % 2 === 1) {
      // Digit runs: numeric value, then the longer run (leading zeros) first.
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** The folder's spec files, oldest first. Hidden files (the pin file, editors' swap files) are not versions. */
export async function listVersionFiles(folder: string): Promise<VersionFile[]> {
  const dir = path.resolve(folder);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new SpecError(folder, [{ where: '', message: `cannot read the spec folder (${(err as NodeJS.ErrnoException).code ?? 'EIO'})` }]);
  }
  const out: VersionFile[] = [];
  for (const name of names.sort(compareVersionNames)) {
    if (name.startsWith('.') || !SPEC_EXTENSIONS.includes(path.extname(name).toLowerCase())) continue;
    const file = path.join(dir, name);
    // stat follows symlinks: Kubernetes mounts each ConfigMap key as a link into `..data/`.
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    const bytes = await readFile(file).catch(() => undefined);
    if (!bytes) continue;
    out.push({ file, name, mtimeMs: st.mtimeMs, bytes, digest: specDigest(bytes) });
  }
  return out;
}

/** `info.version` of spec bytes, '' when they do not parse. Never throws. */
export function versionOf(bytes: Buffer | string): string {
  try {
    const v = obj(obj(parseSpecText('', bytes.toString())).info).version;
    return typeof v === 'string' ? v : '';
  } catch {
    return '';
  }
}

/** The config id of a file in the folder (parses it for its version). */
export function idOfVersionFile(v: VersionFile): string {
  return configIdOf(versionOf(v.bytes), v.digest);
}

/**
 * The file a config id (or a file name) names, or undefined. Matching is by
 * the id's digest part; the version part must agree when the file parses.
 */
export function findVersion(files: readonly VersionFile[], idOrName: string): VersionFile | undefined {
  const byName = files.find((f) => f.name === idOrName);
  if (byName) return byName;
  const dash = idOrName.lastIndexOf('-');
  const digestPart = idOrName.slice(dash + 1).toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(digestPart)) return undefined;
  return files.find((f) => f.digest.startsWith(digestPart) && idOfVersionFile(f) === idOrName);
}

export async function readPin(folder: string): Promise<string | undefined> {
  const text = await readFile(path.join(folder, PIN_FILE), 'utf8').catch(() => undefined);
  const id = text?.trim();
  return id ? id : undefined;
}

/** Written aside, then renamed over: a gateway reading it never sees half a pin. */
export async function writePin(folder: string, id: string): Promise<void> {
  const target = path.join(folder, PIN_FILE);
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, `${id}\n`);
  await rename(tmp, target);
}

export async function removePin(folder: string): Promise<boolean> {
  const target = path.join(folder, PIN_FILE);
  const had = (await stat(target).catch(() => undefined)) !== undefined;
  await rm(target, { force: true });
  return had;
}

/** Where the gateway's spec comes from: one file, or a folder of versions. */
export interface SpecSource {
  /** --spec as given. */
  readonly spec: string;
  /** The folder when --spec names one. */
  readonly folder: string | undefined;
  /** What --watch watches. */
  readonly watchDir: string;
  /**
   * The files a load may use, best first: a start falls through them until one
   * is valid, a reload tries only the first. Throws SpecError when the folder
   * has no spec, or a pin names a config the folder does not hold.
   */
  candidates(): Promise<Candidate[]>;
  /** What a reload would load now (file and digest), to tell whether anything changed; undefined when unreadable. */
  probe(): Promise<string | undefined>;
}

export async function openSpecSource(spec: string, configId?: string): Promise<SpecSource> {
  if (!(await isFolder(spec))) {
    return {
      spec,
      folder: undefined,
      watchDir: path.dirname(path.resolve(spec)),
      candidates: async () => {
        const bytes = await readFile(spec).catch(() => undefined);
        const digest = bytes ? specDigest(bytes) : '';
        // With one file, --config-id is a guard: serve it only when it is that config.
        if (configId !== undefined && bytes && configIdOf(versionOf(bytes), digest) !== configId) {
          throw new SpecError(spec, [{ where: '', message: `is config ${configIdOf(versionOf(bytes), digest)}, not the --config-id ${configId}` }]);
        }
        return [{ file: spec, digest, selectedBy: configId !== undefined ? 'config-id' : 'file' }];
      },
      probe: async () => {
        const bytes = await readFile(spec).catch(() => undefined);
        return bytes ? `${spec}\u0000${specDigest(bytes)}` : undefined;
      },
    };
  }
  const folder = path.resolve(spec);
  const candidates = async (): Promise<Candidate[]> => {
    const files = await listVersionFiles(folder);
    if (files.length === 0) throw new SpecError(spec, [{ where: '', message: 'holds no spec file (*.yaml, *.yml, *.json)' }]);
    const pin = await readPin(folder);
    const wanted = pin ?? configId;
    if (wanted !== undefined) {
      const hit = findVersion(files, wanted);
      const by: SelectedBy = pin !== undefined ? 'pin-file' : 'config-id';
      if (!hit) {
        const from = pin !== undefined ? `the pin file ${PIN_FILE}` : '--config-id';
        throw new SpecError(spec, [{ where: by === 'pin-file' ? PIN_FILE : '', message: `${from} names config ${wanted}, which no spec file in the folder has` }]);
      }
      return [{ file: hit.file, digest: hit.digest, selectedBy: by }];
    }
    return files.reverse().map((f) => ({ file: f.file, digest: f.digest, selectedBy: 'newest' as const }));
  };
  return {
    spec,
    folder,
    watchDir: folder,
    candidates,
    probe: async () => {
      try {
        const first = (await candidates())[0]!;
        return `${first.file}\u0000${first.digest}`;
      } catch (err) {
        return `refused\u0000${(err as Error).message}\u0000${err instanceof SpecError ? err.problems.map((p) => p.message).join() : ''}`;
      }
    },
  };
}

/** What `validate --spec` checks: the file, or every version in the folder. */
export async function specFilesOf(spec: string): Promise<string[]> {
  if (!(await isFolder(spec))) return [spec];
  const files = await listVersionFiles(spec);
  if (files.length === 0) throw new SpecError(spec, [{ where: '', message: 'holds no spec file (*.yaml, *.yml, *.json)' }]);
  return files.map((f) => f.file);
}
