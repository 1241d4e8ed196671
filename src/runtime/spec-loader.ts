/**
 * Loads a spec version for a start or a reload: read, validated and compiled
 * in a worker (a reload never stalls serving), checked against the flags it
 * must agree with, and its traffic contract prepared. What comes out is ready
 * to become a snapshot.
 */
import type { CompileOptions } from '../config/compile.ts';
import type { ServiceConfig } from '../config/types.ts';
import type { SpecProblem } from '../config/problems.ts';
import { loadServiceOffThread } from '../config/service-thread.ts';
import type { SpecSource } from '../config/versions.ts';
import { loadVersion, RefusedVersion } from '../config/version-loader.ts';
import type { SpecCache } from '../config/spec-cache.ts';
import type { LoadedSpec } from './snapshot.ts';
import { openSpecSource } from '../config/versions.ts';
import { defaultCacheDir, openSpecCache } from '../config/spec-cache.ts';
import { cacheFolderWarning } from '../observability/cache-folders.ts';
import type { Logger } from '../observability/logger.ts';

export interface SpecLoaderParts {
  readonly source: SpecSource;
  readonly compile: CompileOptions;
  readonly cache: SpecCache | undefined;
  /** Problems a config has with the flags (a docs path it collides with, allowCors with a CORS preset). */
  readonly check: (config: ServiceConfig) => readonly SpecProblem[];
  /** --validate: the contract of a loaded spec, built before it is swapped in. */
  readonly prepare: ((service: LoadedSpec['service'], file: string) => Promise<void>) | undefined;
  /** A start skipped this invalid version for an older one. */
  readonly onSkip: (refused: RefusedVersion) => void;
  /** A start's spec is being validated in a worker (a validated-spec cache miss). */
  readonly onValidating?: (() => void) | undefined;
  /** Opens the x-endpoints-tls credentials a config names (`owner`: this --spec); problems refuse it. */
  readonly openTls?: ((config: ServiceConfig, file: string, owner: string) => Promise<readonly SpecProblem[]>) | undefined;
}

export interface SpecLoader {
  /** Throws SpecError (RefusedVersion) for a version that cannot be served. */
  load(starting: boolean): Promise<LoadedSpec>;
}

export function createSpecLoader(p: SpecLoaderParts): SpecLoader {
  // Sign-in's runtime (secrets, provider discovery, reserved routes) is set up at start for a spec that
  // uses it; a reload that adds or removes sign-in would leave it half on, so it is refused.
  let signinAtStart: boolean | undefined;
  const signinChange = (c: ServiceConfig): SpecProblem[] =>
    signinAtStart === undefined || Boolean(c.signin) === signinAtStart
      ? []
      : [
          {
            where: 'securityDefinitions',
            message: `${signinAtStart ? 'removes' : 'adds'} browser sign-in (x-endpoints-signin), which takes effect only at start: restart the gateway to serve this spec`,
          },
        ];
  return {
    async load(starting) {
      const v = await loadVersion(p.source, starting, (file) => loadServiceOffThread(file, p.compile, p.cache, { cacheHitsHere: starting, onWorkerStarted: starting ? p.onValidating : undefined }), {
        check: (c) => [...p.check(c), ...signinChange(c)],
        onSkip: p.onSkip,
      });
      const tlsProblems = (await p.openTls?.(v.service.config, v.file, p.source.spec)) ?? [];
      if (tlsProblems.length > 0) throw new RefusedVersion(v.file, v.configId, tlsProblems);
      if (starting) signinAtStart = Boolean(v.service.config.signin);
      await p.prepare?.(v.service, v.file);
      return { service: v.service, file: v.file, selectedBy: v.selectedBy, configId: v.configId };
    },
  };
}

export interface OpenedSpecs {
  readonly loader: SpecLoader;
  readonly source: SpecSource;
  /** The version served at start. */
  readonly first: LoadedSpec;
  /** A newer version a start skipped because it was invalid. */
  readonly skipped: RefusedVersion | undefined;
}

/** Opens --spec (a file or a folder of versions) with its validated-spec cache and loads the version to start with. */
export async function openSpecs(
  o: { readonly specFile: string; readonly configId?: string | undefined; readonly specCacheDir?: string | undefined },
  p: Pick<SpecLoaderParts, 'compile' | 'check' | 'prepare' | 'onValidating' | 'openTls'>,
  log: Logger,
): Promise<OpenedSpecs> {
  const cacheDir = o.specCacheDir === undefined ? defaultCacheDir(process.env) : o.specCacheDir || undefined;
  const cache = openSpecCache(cacheDir);
  const cacheWarning = cacheFolderWarning(cacheDir, cache !== undefined);
  if (cacheWarning) log.warn(cacheWarning.fields, cacheWarning.message);
  let skipped: RefusedVersion | undefined;
  const source = await openSpecSource(o.specFile, o.configId);
  const loader = createSpecLoader({
    ...p,
    source,
    cache,
    onSkip: (e) => {
      skipped ??= e;
      log.warn({ spec: e.file, config_id: e.configId, problems: e.lines(e.file) }, 'config version refused; trying the one before it');
    },
  });
  const first = await loader.load(true);
  for (const w of first.service.config.warnings ?? []) log.warn({ spec: first.file }, `spec warning: ${w}`);
  return { loader, source, first, skipped };
}
