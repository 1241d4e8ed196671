// Start to first 200 alone: `node bench/start.ts [--starts N] [--operations N] [--launch bin|node] [--before OTHER/dist/cli.js]`.
// The gateway is timed from spawn to the first 200 on the key-protected route (the cold key lookup and
// ID token included), cold and warm alternated: cold is a fresh, empty validated-spec cache and
// bytecode cache per start (a new instance of an image that warmed neither), warm reuses both.
// With --before, another build's CLI is timed in the same rounds, start for start (before/after figures).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator } from '../test/emulators/metadata-server.ts';
import { buildGateway, startBackend, startToFirst200, type Upstreams } from './cases.ts';
import { MAIN_KEY, withKey } from './keys.ts';
import { fmtMs } from './report.ts';
import { writeSpec } from './spec.ts';
import { median } from './stats.ts';

/** The caches a start reads: the validated-spec cache and Node's bytecode cache, both in `dir`. */
export const cacheEnv = (dir: string) => ({ ENDPOINTS_CACHE_DIR: path.join(dir, 'specs'), NODE_COMPILE_CACHE: path.join(dir, 'node') });

/**
 * Times `starts` cold and `starts` warm starts, alternated (cold, warm, cold, ...), each cold one with
 * caches of its own under `tmp`; the warm ones share caches filled by one untimed start first.
 */
export async function coldAndWarmStarts(o: { spec: string; up: Upstreams; tmp: string; starts: number; launch?: 'bin' | 'node'; cli?: string; onStart?: (kind: string, t: Timed) => void }): Promise<{ cold: Timed[]; warm: Timed[] }> {
  const route = withKey(MAIN_KEY);
  const warmDir = await mkdtemp(path.join(o.tmp, 'warm-'));
  const start = (dir: string) => startToFirst200(o.spec, o.up, route, { env: cacheEnv(dir), launch: o.launch ?? 'bin', ...(o.cli ? { cli: o.cli } : {}) });
  await start(warmDir);
  const cold: Timed[] = [];
  const warm: Timed[] = [];
  for (let i = 0; i < o.starts; i++) {
    const coldDir = await mkdtemp(path.join(o.tmp, 'cold-'));
    cold.push(await start(coldDir));
    o.onStart?.('cold', cold.at(-1)!);
    await rm(coldDir, { recursive: true, force: true });
    warm.push(await start(warmDir));
    o.onStart?.('warm', warm.at(-1)!);
  }
  return { cold, warm };
}

/** Wall milliseconds from spawn to the first 200, and the CPU milliseconds the gateway used for it. */
export interface Timed {
  ms: number;
  cpuMs: number;
}

/** "412 ms (380–460)": median (min–max). */
export const fmtSpread = (ms: number[]) => `${fmtMs(median(ms))} ms` + (ms.length > 1 ? ` (${fmtMs(Math.min(...ms))}–${fmtMs(Math.max(...ms))})` : '');
/** "412 ms (380–460), CPU 350 ms (...)": medians (min–max) of wall and CPU time. */
export const fmtStarts = (t: Timed[]) => `${fmtSpread(t.map((x) => x.ms))}, CPU ${fmtSpread(t.map((x) => x.cpuMs))}`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { before: { type: 'string' }, starts: { type: 'string', default: '5' }, operations: { type: 'string', default: '1000' }, launch: { type: 'string', default: 'bin' }, 'no-build': { type: 'boolean', default: false } },
  });
  const launch = values.launch === 'node' ? 'node' : 'bin';
  if (!values['no-build']) buildGateway();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-start-'));
  const apikeys = await startApiKeysEmulator();
  const metadata = await startMetadataEmulator({ projectId: 'bench-project' });
  apikeys.addKey({ keyString: MAIN_KEY, displayName: 'bench' });
  const backend = await startBackend(path.join(tmp, 'backend'));
  try {
    const spec = await writeSpec(path.join(tmp, 'spec.yaml'), { operations: Number(values.operations), backendUrl: backend.proc.url });
    const up = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
    const builds: [string, string | undefined][] = values.before ? [['before', path.resolve(values.before)], ['after', undefined]] : [['', undefined]];
    const results = new Map<string, { cold: Timed[]; warm: Timed[] }>(builds.map(([name]) => [name, { cold: [], warm: [] }]));
    // Round by round, one start of each build at a time: both see the same machine.
    for (let i = 0; i < Number(values.starts); i++) {
      for (const [name, cli] of builds) {
        const r = await coldAndWarmStarts({ spec, up, tmp, starts: 1, launch, ...(cli ? { cli } : {}), onStart: (kind, t) => process.stderr.write(`${name} ${kind}: ${t.ms.toFixed(0)} ms, CPU ${t.cpuMs.toFixed(0)} ms\n`) });
        results.get(name)!.cold.push(...r.cold);
        results.get(name)!.warm.push(...r.warm);
      }
    }
    for (const [name, r] of results) {
      process.stdout.write(`start to first 200${name ? ` (${name})` : ''}, ${values.operations}-op spec, ${launch}: cold ${fmtStarts(r.cold)}; warm ${fmtStarts(r.warm)} (median of ${r.cold.length})\n`);
    }
  } finally {
    await backend.proc.stop();
    await apikeys.close();
    await metadata.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
