import { readFile } from 'node:fs/promises';
import { compileSpec, CompileError, type CompileOptions } from '../config/compile.ts';
import { configIdOf } from '../config/config-id.ts';
import { parseSpecText } from '../config/load.ts';
import type { Json } from '../config/openapi.ts';
import { SpecError } from '../config/problems.ts';
import { RefusedVersion } from '../config/version-loader.ts';
import { specDigest } from '../config/service.ts';
import type { ServiceConfig } from '../config/types.ts';
import { findVersion, isFolder, listVersionFiles } from '../config/versions.ts';

/** A spec ready to compare: the validated, dereferenced document and what the gateway compiles from it. */
export interface DiffSide {
  /** As given on the command line. */
  readonly label: string;
  readonly file: string;
  readonly configId: string;
  readonly api: Json;
  readonly config: ServiceConfig;
}

/**
 * A file, or a config id (or file name) in the `--spec` folder. Invalid input
 * throws SpecError with validate's located problems.
 */
export async function loadDiffSide(arg: string, folder: string | undefined, opts: CompileOptions): Promise<DiffSide> {
  const at = { file: arg };
  try {
    return await load(arg, folder, opts, at);
  } catch (err) {
    // Problems are printed with the file they are in.
    if (err instanceof SpecError && !(err instanceof RefusedVersion)) throw new RefusedVersion(at.file, undefined, err.problems);
    throw err;
  }
}

async function load(arg: string, folder: string | undefined, opts: CompileOptions, at: { file: string }): Promise<DiffSide> {
  let file = arg;
  if (folder !== undefined && !(await readFile(arg).then(() => true, () => false))) {
    if (!(await isFolder(folder))) throw new SpecError(folder, [{ where: '', message: '--spec must name a folder of config versions' }]);
    const hit = findVersion(await listVersionFiles(folder), arg);
    if (!hit) throw new SpecError(arg, [{ where: '', message: `is neither a file nor a config id in ${folder}` }]);
    file = hit.file;
    at.file = file;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new SpecError(file, [{ where: '', message: `cannot read the spec file (${(err as NodeJS.ErrnoException).code ?? 'EIO'})` }]);
  }
  const doc = parseSpecText(file, bytes.toString('utf8')) as Json;
  const { validateSpec } = await import('../config/validate.ts');
  const { api, problems } = await validateSpec(doc);
  if (!api) throw new SpecError(file, problems);
  let config: ServiceConfig;
  try {
    config = compileSpec(api, opts).config;
  } catch (err) {
    if (err instanceof CompileError) throw new SpecError(file, err.problems);
    throw err;
  }
  return { label: arg, file, configId: configIdOf(config.version, specDigest(bytes)), api, config };
}
