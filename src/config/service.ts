import { hash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CompileError, compileSpec, type CompileOptions, type CompiledService } from './compile.ts';
import { parseSpecText, readSpecText } from './load.ts';
import type { Json } from './openapi.ts';
import { SpecError, type SpecProblem } from './problems.ts';
import type { SpecCache } from './spec-cache.ts';
import { missingServiceNameProblem } from './service-name.ts';

export interface LoadedService extends CompiledService {
  /** SHA-256 of the spec file's bytes (reload compares it). */
  readonly digest: string;
  /** The validation was skipped because this build had validated these exact bytes before. */
  readonly fromCache: boolean;
}

/** What a reload compares to tell whether the spec file changed. */
export function specDigest(text: string | Buffer): string {
  return hash('sha256', text, 'hex');
}

/** A spec's text, parsed and validated: what does not depend on the compile options. */
export interface CheckedSpec {
  readonly doc: Json;
  readonly api: Json | undefined;
  readonly problems: SpecProblem[];
}

/** Parses and validates a spec's text; throws SpecError when it does not parse. */
export async function checkSpecText(file: string, text: string): Promise<CheckedSpec> {
  const doc = parseSpecText(file, text) as Json;
  // The validator (swagger-parser, Ajv) is loaded only when a spec needs validating.
  const { validateSpec } = await import('./validate.ts');
  return { doc, ...(await validateSpec(doc)) };
}

/** A check made ahead of the load (a worker started before its spec was known), of these exact bytes. */
export interface CheckedAhead {
  readonly text: string;
  readonly checked: Promise<CheckedSpec>;
}

/**
 * endpoint.yaml → compiled service: read, validate (every problem at once),
 * compile. Throws SpecError, whose lines() name each problem's place.
 */
export async function loadService(file: string, opts: CompileOptions = {}, cache?: SpecCache, ahead?: CheckedAhead): Promise<LoadedService> {
  const text = await readSpecText(file);
  const hit = cachedService(text, opts, cache);
  if (hit) return hit;
  const { doc, api, problems } = await (ahead?.text === text ? ahead.checked : checkSpecText(file, text));
  // The missing-service-name problem, otherwise found only at compile time, is reported in the same pass.
  if (!api) throw new SpecError(file, [...problems, ...[missingServiceNameProblem(doc, opts.serviceName)].filter((p) => p !== undefined)]);
  const compiled = compile(file, api, opts);
  const key = cache?.key(text);
  if (key !== undefined) cache?.put(key, api);
  return { ...compiled, digest: specDigest(text), fromCache: false };
}

/**
 * The spec compiled from the validated-spec cache, or undefined when these
 * bytes were not validated by this build before (or the entry does not compile).
 */
export async function loadCachedService(file: string, opts: CompileOptions, cache: SpecCache | undefined): Promise<LoadedService | undefined> {
  return cache ? cachedService(await readSpecText(file), opts, cache) : undefined;
}

function cachedService(text: string, opts: CompileOptions, cache: SpecCache | undefined): LoadedService | undefined {
  if (!cache) return undefined;
  const cached = cache.get(cache.key(text));
  if (!cached) return undefined;
  try {
    return { ...compileSpec(cached, opts), digest: specDigest(text), fromCache: true };
  } catch {
    return undefined; // a full validation follows, which reports properly
  }
}

function compile(file: string, api: Json, opts: CompileOptions): CompiledService {
  try {
    return compileSpec(api, opts);
  } catch (err) {
    if (err instanceof CompileError) throw new SpecError(file, err.problems);
    throw err;
  }
}

/**
 * The document a served config was compiled from, read again for the features that need the
 * spec itself (traffic validation, the docs page): undefined when the file no longer holds the
 * served bytes (a version being written, or one refused), so nothing else is ever published
 * or checked against. Throws when it cannot be read or parsed.
 */
export async function readServedDocument(file: string, digest: string | undefined): Promise<Json | undefined> {
  // The text, as loadService digests it (not the raw bytes), so the two always agree.
  const text = await readFile(file, 'utf8');
  if (digest !== undefined && specDigest(text) !== digest) return undefined;
  return parseSpecText(file, text) as Json;
}
