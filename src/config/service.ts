import { CompileError, compileSpec, type CompileOptions, type CompiledService } from './compile.ts';
import { readSpecFile } from './load.ts';
import type { Json } from './openapi.ts';
import { SpecError } from './problems.ts';
import { validateSpec } from './validate.ts';

/**
 * endpoint.yaml → compiled service: read, validate (every problem at once),
 * compile. Throws SpecError, whose lines() name each problem's place.
 */
export async function loadService(file: string, opts: CompileOptions = {}): Promise<CompiledService> {
  const doc = (await readSpecFile(file)) as Json;
  return compileDocument(file, doc, opts);
}

export async function compileDocument(file: string, doc: Json, opts: CompileOptions = {}): Promise<CompiledService> {
  const { api, problems } = await validateSpec(doc);
  if (!api) throw new SpecError(file, problems);
  try {
    return compileSpec(api, opts);
  } catch (err) {
    if (err instanceof CompileError) throw new SpecError(file, err.problems);
    throw err;
  }
}
