/**
 * Loading the config a SpecSource points at: at start the first valid
 * candidate (a folder's newest valid version), on a reload only the first
 * candidate, so a broken new version is refused while the previous one keeps
 * serving rather than silently replaced by an older one.
 */
import { readFile } from 'node:fs/promises';
import type { LoadedService } from './service.ts';
import { SpecError, type SpecProblem } from './problems.ts';
import { configIdOf } from './config-id.ts';
import { versionOf, type SelectedBy, type SpecSource } from './versions.ts';
import type { ServiceConfig } from './types.ts';

export interface LoadedVersion {
  readonly service: LoadedService;
  readonly file: string;
  readonly selectedBy: SelectedBy;
  readonly configId: string;
}

/** A refused config, with the file it came from and its id when the file could be read. */
export class RefusedVersion extends SpecError {
  readonly file: string;
  readonly configId: string | undefined;
  constructor(file: string, configId: string | undefined, problems: readonly SpecProblem[]) {
    super(file, problems);
    this.file = file;
    this.configId = configId;
  }
}

export interface VersionLoadOptions {
  /** Extra checks of a compiled config (the docs path must not collide with the API's paths). */
  readonly check?: ((config: ServiceConfig) => readonly SpecProblem[]) | undefined;
  /** A start skipped this invalid version for an older one. */
  readonly onSkip?: (err: RefusedVersion) => void;
}

async function idOfFile(file: string, digest: string): Promise<string | undefined> {
  if (!digest) return undefined;
  const bytes = await readFile(file).catch(() => undefined);
  return bytes ? configIdOf(versionOf(bytes), digest) : undefined;
}

export async function loadVersion(
  source: SpecSource,
  starting: boolean,
  load: (file: string) => Promise<LoadedService>,
  opts: VersionLoadOptions = {},
): Promise<LoadedVersion> {
  let candidates;
  try {
    candidates = await source.candidates();
  } catch (err) {
    if (err instanceof SpecError) throw new RefusedVersion(source.spec, undefined, err.problems);
    throw err;
  }
  const tries = starting ? candidates : candidates.slice(0, 1);
  let firstRefusal: RefusedVersion | undefined;
  for (const c of tries) {
    try {
      const service = await load(c.file);
      const extra = opts.check?.(service.config) ?? [];
      if (extra.length > 0) throw new SpecError(c.file, extra);
      return { service, file: c.file, selectedBy: c.selectedBy, configId: configIdOf(service.config.version, service.digest) };
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      const refused = new RefusedVersion(c.file, await idOfFile(c.file, c.digest), err.problems);
      firstRefusal ??= refused;
      if (tries.length > 1) opts.onSkip?.(refused);
    }
  }
  throw firstRefusal!;
}
