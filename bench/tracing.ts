// Issue 25's figure, on its own: the everything-on gateway with tracing off, at the default rate and at
// 100 %, side by side in one run (cases alternated A B C A B C), CPU per request as the full benchmark
// measures it (bench/README.md). `node bench/tracing.ts [--rounds N] [--duration S] [--connections N] [--profile DIR]`;
// --profile writes the off and 100 % gateways' CPU profiles (off.cpuprofile, all.cpuprofile) into DIR.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator } from '../test/emulators/metadata-server.ts';
import { startOtlpReceiver } from '../test/emulators/otlp-receiver.ts';
import { buildGateway, startBackend, tracingCases, TRACING_ALL, TRACING_DEFAULT, TRACING_OFF, type CaseContext, type Upstreams } from './cases.ts';
import { MAIN_KEY, withKey } from './keys.ts';
import { threadCpu, type ThreadKind } from './cpu.ts';
import { measuredLoad, type Measured } from './measure.ts';
import { getStatus, type Proc } from './procs.ts';
import { fmtCpu, fmtP99, fmtRps, spread } from './report.ts';
import { writeSpec } from './spec.ts';
import { pairedRatio } from './stats.ts';
import { runLoad } from './wrk.ts';

const log = (msg: string) => process.stderr.write(`[bench tracing] ${msg}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, profile: { type: 'string' } }, strict: true });
  const rounds = Number(values.rounds);
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  buildGateway();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-tracing-'));
  const procs: Proc[] = [];
  const apikeys = await startApiKeysEmulator();
  const metadata = await startMetadataEmulator({ projectId: 'bench-project' });
  const collector = await startOtlpReceiver();
  collector.setMode('sink');
  try {
    apikeys.addKey({ keyString: MAIN_KEY, displayName: 'bench' });
    const up: Upstreams = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
    const { proc: backend, kind } = await startBackend(path.join(tmp, 'backend'));
    procs.push(backend);
    const spec = await writeSpec(path.join(tmp, 'spec.yaml'), { operations: 1000, backendUrl: backend.url });
    const ctx: CaseContext = { backend, up, specOf: () => spec, dirOf: (id) => path.join(tmp, id), mainKey: MAIN_KEY };
    const defs = tracingCases({ operations: 1000, collector: collector.url, ...(values.profile !== undefined ? { profileDir: path.resolve(values.profile) } : {}) });
    const cases = await Promise.all(defs.map(async (def) => ({ def, proc: (await def.start(ctx))! })));
    procs.push(...cases.map((c) => c.proc));
    const p = withKey(MAIN_KEY);
    for (const { def, proc } of cases) {
      const first = await getStatus(proc.url + p, 10_000);
      if (first !== 200) throw new Error(`${def.id}: first request answered ${first}`);
      await runLoad({ url: proc.url, path: p, connections, threads: 1, durationS: 2 });
    }
    const samples = new Map<string, Measured[]>(cases.map((c) => [c.def.id, []]));
    // Where the CPU goes inside the gateway: its main thread, and V8's helper threads (concurrent GC).
    const threads = new Map<string, Record<ThreadKind, number>[]>(cases.map((c) => [c.def.id, []]));
    for (let r = 1; r <= rounds; r++) {
      for (const { def, proc } of cases) {
        const t0 = await threadCpu(proc.pid);
        const m = await measuredLoad({ url: proc.url, path: p, connections, threads: 1, durationS }, proc.pid, backend.pid);
        const t1 = await threadCpu(proc.pid);
        const perReq = (k: ThreadKind) => ((t1[k] - t0[k]) * 1e6) / m.requests;
        threads.get(def.id)!.push({ main: perReq('main'), v8: perReq('v8'), other: perReq('other') });
        if (m.non2xx > 0 || m.errors > 0) throw new Error(`${def.id}: ${m.non2xx} non-2xx, ${m.errors} errors`);
        samples.get(def.id)!.push(m);
        log(`round ${r}/${rounds}: ${def.id.padEnd(24)} ${Math.round(m.rps)} req/s, p99 ${m.p99.toFixed(1)} ms, ${m.cpuUsPerReq.toFixed(1)} µs CPU/req`);
      }
    }
    const of = (id: string, f: (m: Measured) => number) => samples.get(id)!.map(f);
    const cpu = (m: Measured) => m.cpuUsPerReq;
    const lines = [
      `backend: ${kind}; ${rounds} round(s) × ${durationS} s, wrk -t1 -c${connections}; collector: OTLP/HTTP protobuf sink on loopback (bench process)`,
      '',
      '| case | req/s | p99 | CPU µs/req | of which main thread | of which V8 helper threads (GC) | CPU vs off |',
      '|---|---|---|---|---|---|---|',
      ...cases.map(({ def }) => {
        const ratio = def.id === TRACING_OFF ? '1.00x' : `${pairedRatio(of(def.id, cpu), of(TRACING_OFF, cpu)).toFixed(2)}x`;
        const thread = (k: ThreadKind) => fmtCpu(spread(threads.get(def.id)!.map((t) => t[k])));
        return `| ${def.label} | ${fmtRps(spread(of(def.id, (m) => m.rps)))} | ${fmtP99(spread(of(def.id, (m) => m.p99)))} | ${fmtCpu(spread(of(def.id, cpu)))} | ${thread('main')} | ${thread('v8')} | ${ratio} |`;
      }),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const allRatio = pairedRatio(of(TRACING_ALL, cpu), of(TRACING_OFF, cpu));
    const defRatio = pairedRatio(of(TRACING_DEFAULT, cpu), of(TRACING_OFF, cpu));
    log(`CPU per request vs off: default rate ${defRatio.toFixed(3)}x, 100 % ${allRatio.toFixed(3)}x (target <= 1.15x)`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([apikeys.close(), metadata.close(), collector.close()]);
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
