import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { routerOf, type CompileOptions } from './compile.ts';
import { SpecError } from './problems.ts';
import { loadCachedService, type LoadedService } from './service.ts';
import type { SpecCache } from './spec-cache.ts';
import type { WorkerInput, WorkerOutput } from './service-worker.ts';
import type { WaitingInput } from './service-worker.ts';

/** Longest a spec may take to validate and compile before it is refused. */
export const DEFAULT_LOAD_BUDGET_MS = 60_000;

// The worker file sits beside this one, as .ts when run from source, .js when built.
const workerUrl = new URL(`./service-worker${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url);

export interface OffThreadOptions {
  /** Refuse the spec when validating and compiling take longer (default 60 s). */
  readonly budgetMs?: number;
  /**
   * Compile a validated-spec cache hit on this thread instead (what a start
   * wants: nothing is served yet, and a worker's start costs more than the
   * hit). A reload leaves it off: even a hit's compile of a large spec would
   * stall the requests being served.
   */
  readonly cacheHitsHere?: boolean;
  /** Called once the worker is started: a start then loads its other parts on this thread meanwhile. */
  readonly onWorkerStarted?: (() => void) | undefined;
}

/**
 * loadService in a worker thread, so a reload never stalls the requests being
 * served: validation of a large or hostile spec costs seconds of CPU, and the
 * serving thread only pays for receiving the compiled config (plain data,
 * structured-cloned) and building its route table in slices. Past `budgetMs`
 * the worker is stopped and the spec refused, with a problem saying so.
 */
export async function loadServiceOffThread(
  file: string,
  opts: CompileOptions = {},
  cache?: SpecCache,
  { budgetMs = DEFAULT_LOAD_BUDGET_MS, cacheHitsHere = false, onWorkerStarted }: OffThreadOptions = {},
): Promise<LoadedService> {
  if (cacheHitsHere) {
    const hit = await loadCachedService(file, opts, cache);
    if (hit) return hit;
  }
  const input: WorkerInput = { file, opts, cacheDir: cache?.dir };
  const out = await new Promise<WorkerOutput>((resolve, reject) => {
    const ahead = takePrestartedWorker();
    const worker = ahead ?? startWorker(input);
    if (ahead) ahead.postMessage(input);
    onWorkerStarted?.();
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
      void worker.terminate();
    };
    const timer = setTimeout(
      () =>
        settle(() =>
          resolve({ kind: 'refused', problems: [{ where: '', message: `validation took longer than ${formatMs(budgetMs)}; refusing the spec (is it unusually large, or are its $refs nested very deep?)` }] }),
        ),
      budgetMs,
    );
    worker.once('message', (m: WorkerOutput) => settle(() => resolve(m)));
    worker.once('error', (err: Error & { code?: string }) =>
      settle(() =>
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? resolve({ kind: 'refused', problems: [{ where: '', message: `validation ran out of memory (a heap of ${Math.ceil(getHeapStatistics().heap_size_limit / 2 ** 20)} MiB); refusing the spec. A spec this large needs a larger heap: set NODE_OPTIONS=--max-old-space-size=MIB` }] })
          : reject(err),
      ),
    );
    worker.once('exit', (code) => settle(() => reject(new Error(`the spec-loading worker exited (code ${code}) without an answer`))));
  });
  if (out.kind === 'refused') throw new SpecError(file, out.problems);
  if (out.kind === 'failed') throw new Error(out.message);
  return { config: out.config, router: await routerOf(out.config.operations, opts), digest: out.digest, fromCache: out.fromCache };
}

function startWorker(workerData: unknown): Worker {
  return new Worker(workerUrl, {
    workerData,
    // Its own heap, as large as ours: a spec that exhausts it is refused, not fatal.
    resourceLimits: { maxOldGenerationSizeMb: Math.ceil(getHeapStatistics().heap_size_limit / 2 ** 20) },
    stdout: false,
    stderr: false,
  });
}

/** A worker started ahead of its spec, until a load takes it (or it is found dead). */
let prestarted: { worker: Worker; alive: boolean } | undefined;

/**
 * Starts the spec-loading worker now, before the load's options are known (a
 * start's CLI still has hundreds of ms of modules to load): it reads and
 * validates `file` meanwhile, and the first load takes it. It keeps no process
 * alive until taken.
 */
export function prestartSpecWorker(file: string): void {
  if (prestarted) return;
  const p = { worker: startWorker({ waiting: true, file } satisfies WaitingInput), alive: true };
  p.worker.unref();
  // Until taken its failures are nobody's: the load that finds it dead starts a worker of its own.
  const dead = () => (p.alive = false);
  p.worker.on('error', dead).on('exit', dead);
  prestarted = p;
}

function takePrestartedWorker(): Worker | undefined {
  const p = prestarted;
  prestarted = undefined;
  if (!p?.alive) return undefined;
  p.worker.ref();
  return p.worker;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
