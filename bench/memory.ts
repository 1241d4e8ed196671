// The gateway's memory under different V8 settings, side by side: each variant is the gateway as
// production starts it (dist/cli.js through its shebang) with extra NODE_OPTIONS appended, which win
// over the shebang's defaults as an operator's would. Per variant: req/s through N distinct cached
// keys (variants alternated A B A B, paired ratios against the first), RSS after that load, and the
// live heap (after a forced full GC) before and after the keys were cached, and the gateway's CPU per request.
// `node bench/memory.ts [--rounds N] [--duration S] [--keys N] [--connections N] [--threads N] [--variant 'name=--flag --flag' ...]`
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator } from '../test/emulators/metadata-server.ts';
import { buildGateway, startBackend, startGateway, type GatewayProc } from './cases.ts';
import { drive } from './drive.ts';
import { INSPECT_ANY_PORT, openHeapProbe } from './heap.ts';
import { manyKey, rotatingKeys, rotatingKeysForWrk, WARM_KEYS, warmKey, withKey } from './keys.ts';
import { measuredLoad } from './measure.ts';
import { readRss, type Proc } from './procs.ts';
import { fmtMiB } from './report.ts';
import { writeSpec } from './spec.ts';
import { median, pairedRatio } from './stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    keys: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    variant: { type: 'string', multiple: true },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const keys = Number(values.keys);
const connections = Number(values.connections);
const threads = Number(values.threads);
// V8 reads 0 as "size it yourself", so the first default variant undoes whatever the shebang sets.
const variants = (values.variant ?? ['V8 defaults=--max-semi-space-size=0 --max-old-space-size=0', 'shipped defaults=']).map((v) => {
  const eq = v.indexOf('=');
  if (eq < 1) throw new Error(`--variant must be name=flags (got ${v})`);
  return { name: v.slice(0, eq), flags: v.slice(eq + 1).split(/\s+/).filter((f) => f !== '') };
});
const log = (m: string) => process.stderr.write(`[memory] ${m}\n`);

buildGateway();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-memory-'));
const procs: Proc[] = [];
const apikeys = await startApiKeysEmulator();
const metadata = await startMetadataEmulator({ projectId: 'bench-project' });
try {
  for (let i = 0; i < WARM_KEYS; i++) apikeys.addKey({ keyString: warmKey(i), displayName: 'bench' });
  for (let i = 0; i < keys; i++) apikeys.addKey({ keyString: manyKey(i), displayName: 'bench' });
  const { proc: backend } = await startBackend(path.join(tmp, 'backend'));
  procs.push(backend);
  const spec = await writeSpec(path.join(tmp, 'spec.yaml'), { operations: 10, backendUrl: backend.url });
  const up = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
  const gws: { name: string; flags: string[]; gw: GatewayProc }[] = [];
  for (const v of variants) {
    const gw = await startGateway(`gateway ${v.name}`, spec, up, { nodeOptions: [...v.flags, INSPECT_ANY_PORT] });
    procs.push(gw);
    if (gw.adminUrl === undefined) throw new Error('this gateway has no --admin-port: no /metrics to read the heap from');
    gws.push({ ...v, gw });
  }
  const heap0: number[] = [];
  for (const g of gws) {
    check(g.name, await drive(g.gw.url, (n) => withKey(warmKey(n % WARM_KEYS)), keys, connections));
    const probe = await openHeapProbe(g.gw, `${g.gw.adminUrl!}/metrics`);
    heap0.push(await probe.liveHeapBytes());
    probe.close();
    check(g.name, await drive(g.gw.url, rotatingKeys(keys), keys, connections));
  }
  const rps: number[][] = gws.map(() => []);
  const p99: number[][] = gws.map(() => []);
  const cpu: number[][] = gws.map(() => []);
  const rssAfter: ({ rss: number; peak: number } | undefined)[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [i, g] of gws.entries()) {
      const res = check(g.name, await measuredLoad({ url: g.gw.url, path: rotatingKeysForWrk(keys), connections, threads, durationS }, g.gw.pid, backend.pid));
      rps[i]!.push(res.rps);
      p99[i]!.push(res.p99);
      cpu[i]!.push(res.cpuUsPerReq);
      // RSS right after each variant's own last load, before it idles while the others run.
      if (r === rounds - 1) rssAfter[i] = await readRss(g.gw.pid);
      log(`round ${r + 1} ${g.name}: ${Math.round(res.rps)} req/s, ${res.cpuUsPerReq.toFixed(1)} µs CPU/req`);
    }
  }
  console.log(`| variant | extra NODE_OPTIONS | req/s (median) | × ${gws[0]!.name} | p99 ms | CPU µs/req | × ${gws[0]!.name} CPU | RSS after load | peak RSS | live heap, 0 → ${keys.toLocaleString('en-US')} keys | per key |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [i, g] of gws.entries()) {
    const rss = rssAfter[i];
    const probe = await openHeapProbe(g.gw, `${g.gw.adminUrl!}/metrics`);
    const heap1 = await probe.liveHeapBytes();
    probe.close();
    const perKey = (heap1 - heap0[i]!) / keys;
    console.log(
      `| ${g.name} | ${g.flags.join(' ') || '(none)'} | ${Math.round(median(rps[i]!))} | ${pairedRatio(rps[i]!, rps[0]!).toFixed(2)}× | ${median(p99[i]!).toFixed(1)} | ${median(cpu[i]!).toFixed(1)} | ${pairedRatio(cpu[i]!, cpu[0]!).toFixed(2)}× | ` +
        `${rss ? fmtMiB(rss.rss) : '?'} | ${rss ? fmtMiB(rss.peak) : '?'} | ${fmtMiB(heap0[i]!)} → ${fmtMiB(heap1)} | ${perKey.toFixed(0)} B |`,
    );
  }
  console.log(`\n${rounds} rounds × ${durationS} s, c=${connections}, ${keys} keys rotating, variants alternated, wrk -t${threads}; command: node bench/memory.ts ${process.argv.slice(2).join(' ')}`);
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await apikeys.close();
  await metadata.close();
  await rm(tmp, { recursive: true, force: true });
}

function check<T extends { non2xx: number; errors: number }>(what: string, r: T): T {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${what}: ${r.non2xx} non-2xx answers, ${r.errors} socket errors`);
  return r;
}
