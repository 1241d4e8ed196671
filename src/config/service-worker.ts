/**
 * Worker-thread entry: reads, validates and compiles one spec off the serving
 * thread, then posts the compiled config back as plain data (see service-thread.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CompileOptions } from './compile.ts';
import { SpecError } from './problems.ts';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { checkSpecText, loadService, type CheckedAhead } from './service.ts';
import { openSpecCache } from './spec-cache.ts';

export interface WorkerInput {
  readonly file: string;
  readonly opts: CompileOptions;
  readonly cacheDir: string | undefined;
}

export type WorkerOutput =
  | { readonly kind: 'loaded'; readonly config: import('./types.ts').ServiceConfig; readonly digest: string; readonly fromCache: boolean }
  | { readonly kind: 'refused'; readonly problems: SpecError['problems'] }
  | { readonly kind: 'failed'; readonly message: string };

// json-schema-ref-parser reads the global Headers while merging its options, and that first read
// loads Node's bundled fetch (undici: ~100-180 ms of this worker's cold start). This thread never
// fetches (external $refs are off), so it has no Headers: the read finds none and loads nothing.
// (Deleted, not redefined: redefining it reads it first, which loads fetch.)
delete (globalThis as { Headers?: unknown }).Headers;

/** workerData of a worker started ahead of its input (spec-worker-prestart.ts), which then comes as the first message. */
export interface WaitingInput {
  readonly waiting: true;
  /** The spec file the command line names: read and validated while the input is awaited. */
  readonly file: string;
}

let input: WorkerInput;
let ahead: CheckedAhead | undefined;
if ((workerData as WaitingInput).waiting === true) {
  // Started while the CLI still loads: the spec is read and validated now (none of that depends on
  // the compile options the input brings); the load uses it if the file still holds these bytes.
  const { file } = workerData as WaitingInput;
  const next = new Promise<WorkerInput>((resolve) => parentPort!.once('message', resolve));
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const checked = checkSpecText(file, text);
    checked.catch(() => {}); // a refusal is reported by the load that uses it
    ahead = { text, checked };
  }
  input = await next;
} else {
  input = workerData as WorkerInput;
}
let out: WorkerOutput;
try {
  const loaded = await loadService(input.file, input.opts, openSpecCache(input.cacheDir), ahead && path.resolve(input.file) === path.resolve((workerData as WaitingInput).file) ? ahead : undefined);
  out = { kind: 'loaded', config: loaded.config, digest: loaded.digest, fromCache: loaded.fromCache };
} catch (err) {
  out = err instanceof SpecError ? { kind: 'refused', problems: err.problems } : { kind: 'failed', message: (err as Error)?.message ?? String(err) };
}
parentPort!.postMessage(out);
