// Response compression off vs on (issue 26): only the two cases of compressionCases() in
// bench/cases.ts, A B A B over the rounds, CPU per request of the gateway's process tree as in the
// main benchmark. Usage: node bench/compression.ts [--rounds N] [--duration S] [--connections N]
// [--base-cli PATH: also run another build's dist/cli.js, e.g. a commit before compression existed]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { buildGateway, compressionCases, COMPRESSION_BASE, COMPRESSION_OFF, COMPRESSION_ON } from './cases.ts';
import { benchServerPort, spawnServer, type Proc } from './procs.ts';
import { measuredLoad, type Measured } from './measure.ts';
import { runLoad } from './wrk.ts';
import { REPO } from './paths.ts';

const ACCEPT = 'Accept-Encoding: gzip, deflate, br';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One request as wrk sends it: status, coding and size on the wire. */
function probe(url: string): Promise<{ status: number; coding: string | undefined; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'accept-encoding': 'gzip, deflate, br' }, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode!, coding: res.headers['content-encoding'], bytes }));
      })
      .on('error', reject);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '20' }, 'base-cli': { type: 'string' } } });
  const rounds = Number(values.rounds);
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  buildGateway();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-compression-'));
  const procs: Proc[] = [];
  try {
    const backend = await spawnServer({ name: 'json10k', args: [path.join(REPO, 'bench/servers/json10k.ts')], port: benchServerPort });
    procs.push(backend);
    const spec = path.join(tmp, 'endpoint.json');
    await writeFile(
      spec,
      JSON.stringify({
        swagger: '2.0',
        info: { title: 'bench', version: '1' },
        host: 'bench.endpoints.bench-project.cloud.goog',
        'x-google-backend': { address: backend.url, path_translation: 'APPEND_PATH_TO_ADDRESS' },
        security: [],
        paths: { '/v1/books': { get: { operationId: 'ListBooks', responses: { 200: { description: 'ok' } } } } },
      }),
    );
    const defs = compressionCases({ spec, baseCli: values['base-cli'] });
    const cases = await Promise.all(defs.map(async (def) => ({ def, proc: (await def.start(undefined as never))! })));
    procs.push(...cases.map((c) => c.proc));
    const load = (proc: Proc, s: number) => ({ url: proc.url, path: '/v1/books', connections, threads: 1, durationS: s, headers: [ACCEPT] });
    for (const { def, proc } of cases) {
      const p = await probe(proc.url + '/v1/books');
      if (p.status !== 200) throw new Error(`${def.id}: first request answered ${p.status}`);
      process.stderr.write(`[bench] ${def.id}: 200, ${p.coding ?? 'identity'}, ${p.bytes} bytes on the wire\n`);
      await runLoad(load(proc, 2));
    }
    const samples = new Map<string, Measured[]>(cases.map((c) => [c.def.id, []]));
    for (let r = 0; r < rounds; r++) {
      for (const { def, proc } of r % 2 === 0 ? cases : [...cases].reverse()) {
        const m = await measuredLoad(load(proc, durationS), proc.pid, backend.pid);
        if (m.non2xx > 0 || m.errors > 0) throw new Error(`${def.id}: ${m.non2xx} error answers, ${m.errors} socket errors`);
        samples.get(def.id)!.push(m);
        process.stderr.write(`[bench] round ${r + 1} ${def.id}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99.toFixed(2)} ms, ${m.cpuUsPerReq.toFixed(1)} µs CPU/req\n`);
      }
    }
    const rows = cases.map(({ def }) => {
      const s = samples.get(def.id)!;
      return { case: def.label, rps: median(s.map((x) => x.rps)), p99Ms: median(s.map((x) => x.p99)), cpuUsPerReq: median(s.map((x) => x.cpuUsPerReq)), backendCpuUsPerReq: median(s.map((x) => x.backendCpuUsPerReq)) };
    });
    // Medians of per-round paired ratios, as the main benchmark reports them.
    const ratio = (id: string, f: (x: Measured) => number) => median(samples.get(id)!.map((x, i) => f(x) / f(samples.get(COMPRESSION_OFF)![i]!)));
    const vsOff = (id: string) => (samples.has(id) ? { rps: ratio(id, (x) => x.rps), cpu: ratio(id, (x) => x.cpuUsPerReq) } : undefined);
    console.log(JSON.stringify({ rounds, durationS, connections, cpus: os.cpus().length, load: os.loadavg()[0], rows, onVsOff: vsOff(COMPRESSION_ON), baseVsOff: vsOff(COMPRESSION_BASE) }, null, 2));
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
