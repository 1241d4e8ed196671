// Issue 21's figure on its own: the everything-on gateway against the bare node:http + undici floor,
// side by side in one run (cases alternated A B A B), CPU per request as the full benchmark measures it
// (bench/README.md), split by thread, with the full (major) GCs each gateway round ran.
//
//   node bench/floor.ts [--rounds N] [--duration S] [--connections N] [--operations N]
//                       [--before OTHER/dist/cli.js] [--profile DIR]
//
// --before adds another build's gateway as a third case (before/after in the same rounds); --profile
// writes each server's CPU profile into DIR (floor.cpuprofile, gateway.cpuprofile, before.cpuprofile).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator } from '../test/emulators/metadata-server.ts';
import { buildGateway, startBackend, startGateway, type GatewayProc, type Upstreams } from './cases.ts';
import { threadCpu, type ThreadKind } from './cpu.ts';
import { MAIN_KEY, withKey } from './keys.ts';
import { measuredLoad, type Measured } from './measure.ts';
import { REPO } from './paths.ts';
import { scrapeMetric } from './heap.ts';
import { benchServerPort, getStatus, spawnServer, type Proc } from './procs.ts';
import { fmtCpu, fmtP99, fmtRps, spread } from './report.ts';
import { writeSpec } from './spec.ts';
import { median, pairedRatio } from './stats.ts';
import { runLoad } from './wrk.ts';

const log = (msg: string) => process.stderr.write(`[bench floor] ${msg}\n`);

/** Full GCs so far, from the gateway's own admin /metrics (prom-client's default GC histogram: no line before the first); NaN for the floor. */
async function majorGcs(proc: Proc): Promise<number> {
  const admin = (proc as GatewayProc).adminUrl;
  return admin === undefined ? NaN : scrapeMetric(`${admin}/metrics`, 'nodejs_gc_duration_seconds_count{kind="major"}', 0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      operations: { type: 'string', default: '10' },
      before: { type: 'string' },
      profile: { type: 'string' },
    },
    strict: true,
  });
  const rounds = Number(values.rounds);
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  const operations = Number(values.operations);
  const profileDir = values.profile === undefined ? undefined : path.resolve(values.profile);
  const cpuProf = (name: string) => (profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`]);
  buildGateway();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-floor-'));
  const procs: Proc[] = [];
  const apikeys = await startApiKeysEmulator();
  const metadata = await startMetadataEmulator({ projectId: 'bench-project' });
  try {
    apikeys.addKey({ keyString: MAIN_KEY, displayName: 'bench' });
    const up: Upstreams = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
    const { proc: backend, kind } = await startBackend(path.join(tmp, 'backend'));
    procs.push(backend);
    const spec = await writeSpec(path.join(tmp, 'spec.yaml'), { operations, backendUrl: backend.url });
    const starts: [string, () => Promise<Proc>][] = [
      ['floor', () => spawnServer({ name: 'floor', args: [path.join(REPO, 'bench/servers/undici-proxy.ts'), backend.url], port: benchServerPort, nodeFlags: cpuProf('floor') })],
      ['gateway', () => startGateway('gateway', spec, up, { nodeOptions: cpuProf('gateway') })],
      ...(values.before !== undefined ? [['before', () => startGateway('before', spec, up, { cli: path.resolve(values.before!), nodeOptions: cpuProf('before') })] as [string, () => Promise<Proc>]] : []),
    ];
    const cases: { id: string; proc: Proc }[] = [];
    for (const [id, start] of starts) {
      const proc = await start();
      procs.push(proc);
      cases.push({ id, proc });
    }
    const p = withKey(MAIN_KEY);
    for (const { id, proc } of cases) {
      const first = await getStatus(proc.url + p, 10_000);
      if (first !== 200) throw new Error(`${id}: first request answered ${first}`);
      await runLoad({ url: proc.url, path: p, connections, threads: 1, durationS: 2 });
    }
    const samples = new Map<string, Measured[]>(cases.map((c) => [c.id, []]));
    const threads = new Map<string, Record<ThreadKind, number>[]>(cases.map((c) => [c.id, []]));
    const fullGcs = new Map<string, number[]>(cases.map((c) => [c.id, []]));
    for (let r = 1; r <= rounds; r++) {
      for (const { id, proc } of cases) {
        const [t0, gc0] = [await threadCpu(proc.pid), await majorGcs(proc)];
        const m = await measuredLoad({ url: proc.url, path: p, connections, threads: 1, durationS }, proc.pid, backend.pid);
        const [t1, gc1] = [await threadCpu(proc.pid), await majorGcs(proc)];
        if (m.non2xx > 0 || m.errors > 0) throw new Error(`${id}: ${m.non2xx} non-2xx, ${m.errors} errors`);
        const perReq = (k: ThreadKind) => ((t1[k] - t0[k]) * 1e6) / m.requests;
        threads.get(id)!.push({ main: perReq('main'), v8: perReq('v8'), other: perReq('other') });
        fullGcs.get(id)!.push(gc1 - gc0);
        samples.get(id)!.push(m);
        const gcs = Number.isNaN(gc1 - gc0) ? '' : `, ${gc1 - gc0} full GCs`;
        log(`round ${r}/${rounds}: ${id.padEnd(8)} ${Math.round(m.rps)} req/s, p99 ${m.p99.toFixed(1)} ms, ${m.cpuUsPerReq.toFixed(1)} µs CPU/req${gcs}`);
      }
    }
    const of = (id: string, f: (m: Measured) => number) => samples.get(id)!.map(f);
    const cpu = (m: Measured) => m.cpuUsPerReq;
    const lines = [
      `backend: ${kind}; ${operations}-operation spec; ${rounds} round(s) × ${durationS} s, wrk -t1 -c${connections}, cases alternated`,
      '',
      '| case | req/s | p99 | CPU µs/req | of which main thread | of which V8 helper threads (GC) | full GCs per round | CPU vs floor |',
      '|---|---|---|---|---|---|---|---|',
      ...cases.map(({ id }) => {
        const ratio = id === 'floor' ? '1.00x' : `${pairedRatio(of(id, cpu), of('floor', cpu)).toFixed(2)}x`;
        const thread = (k: ThreadKind) => fmtCpu(spread(threads.get(id)!.map((t) => t[k])));
        const gcs = fullGcs.get(id)!;
        const gcCell = gcs.some(Number.isNaN) ? '' : `${median(gcs)} (${Math.min(...gcs)}–${Math.max(...gcs)})`;
        return `| ${id} | ${fmtRps(spread(of(id, (m) => m.rps)))} | ${fmtP99(spread(of(id, (m) => m.p99)))} | ${fmtCpu(spread(of(id, cpu)))} | ${thread('main')} | ${thread('v8')} | ${gcCell} | ${ratio} |`;
      }),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    log(`gateway CPU per request vs floor: ${pairedRatio(of('gateway', cpu), of('floor', cpu)).toFixed(3)}x (target <= 1.2x)`);
  } finally {
    await Promise.all(procs.map((pr) => pr.stop()));
    await Promise.all([apikeys.close(), metadata.close()]);
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
