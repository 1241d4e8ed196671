/**
 * Loads the embedded store file in a worker thread, so neither a start nor a
 * reload of a large store stalls the requests being served: reading and
 * validating 100,000 keys costs seconds of CPU and tens of MiB, all in the
 * worker's own heap (bounded like ours; a file that exhausts it is refused,
 * not fatal). The serving thread receives the keys as a KeyTable whose
 * buffers are transferred, not copied.
 */
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { keyTable, type KeyTable } from './key-table.ts';
import type { KeyLoadInput, KeyLoadOutput } from './key-load-worker.ts';

/** Longest a load may take before it is abandoned (the old keys stay). */
export const DEFAULT_KEY_LOAD_BUDGET_MS = 60_000;

// The worker file sits beside this one, as .ts when run from source, .js when built.
const workerUrl = new URL(`./key-load-worker${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url);

export type KeyLoadResult =
  | { readonly kind: 'loaded'; readonly digest: string; readonly bytes: number; readonly table: KeyTable }
  | { readonly kind: 'invalid'; readonly digest: string | undefined; readonly problems: readonly string[] }
  | { readonly kind: 'too-large'; readonly digest: string; readonly bytes: number }
  | { readonly kind: 'unreadable'; readonly message: string };

export async function loadKeysOffThread(path: string, maxBytes: number, budgetMs = DEFAULT_KEY_LOAD_BUDGET_MS): Promise<KeyLoadResult> {
  const heapMib = Math.ceil(getHeapStatistics().heap_size_limit / 2 ** 20);
  const input: KeyLoadInput = { path, maxBytes };
  const out = await new Promise<KeyLoadOutput | { kind: 'refused'; problem: string }>((resolve) => {
    const worker = new Worker(workerUrl, {
      workerData: input,
      resourceLimits: { maxOldGenerationSizeMb: heapMib },
      stdout: false,
      stderr: false,
    });
    let settled = false;
    const settle = (v: KeyLoadOutput | { kind: 'refused'; problem: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
      void worker.terminate();
    };
    const timer = setTimeout(() => settle({ kind: 'refused', problem: `reading it took longer than ${budgetMs / 1000} s` }), budgetMs);
    worker.once('message', (m: KeyLoadOutput) => settle(m));
    worker.once('error', (err: Error & { code?: string }) =>
      settle({
        kind: 'refused',
        problem:
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? `reading it ran out of memory (a heap of ${heapMib} MiB): write it as the keys commands do, or as JSON, or give the gateway a larger heap (NODE_OPTIONS=--max-old-space-size=MIB)`
            : `reading it failed: ${err.message}`,
      }),
    );
    worker.once('exit', (code) => settle({ kind: 'refused', problem: `the key-loading worker exited (code ${code}) without an answer` }));
  });
  switch (out.kind) {
    case 'loaded':
      return { kind: 'loaded', digest: out.digest, bytes: out.bytes, table: keyTable(out.table) };
    case 'refused':
      return { kind: 'invalid', digest: undefined, problems: [out.problem] };
    default:
      return out;
  }
}
