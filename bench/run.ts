// The gateway benchmark: `npm run bench` (full, ~8 min) or `npm run bench -- --smoke` (well under a minute, CI).
// Everything runs on loopback, each server in its own process; wrk drives them. Cases alternate
// A B A B over rounds on a noisy 2-core machine, so the table reports medians and paired ratios,
// never single absolute numbers, and for every case the server's CPU time per request (its whole
// process tree, from /proc), the figure that stays comparable when other work shares the machine.
// Targets are reported as pass/miss, never asserted.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../test/emulators/metadata-server.ts';
import {
  BASELINE,
  buildGateway,
  FLOOR,
  gatewayId,
  NGINX,
  REPO,
  serveSupports,
  sideBySideCases,
  startGateway,
  startBackend,
  type CaseContext,
  type CaseDef,
  type GatewayProc,
  type Upstreams,
} from './cases.ts';
import { clockTicks } from './cpu.ts';
import { drive, type DriveResult } from './drive.ts';
import { INSPECT_ANY_PORT, openHeapProbe, type HeapProbe } from './heap.ts';
import { FILL_CONCURRENCY, MAIN_KEY, manyKey, rotatingKeys, rotatingKeysForWrk, RSS_LIMIT, WARM_KEYS, warmKey, withKey } from './keys.ts';
import { describeMachine, machineLine } from './machine.ts';
import { measuredLoad, type Measured } from './measure.ts';
import { getStatus, getText, processInfo, readRss, readRssByProcess, readTreeRss, type Proc } from './procs.ts';
import { coldAndWarmStarts, fmtSpread } from './start.ts';
import { fmtCpu, fmtMiB, fmtMs, fmtP99, fmtRps, fmtX, markdownTable, spread, verdict, type Row, type Spread, type Target } from './report.ts';
import { settingsFrom } from './settings.ts';
import { writeSpec } from './spec.ts';
import { median, pairedRatio } from './stats.ts';
import { findWrk, runLoad, type LoadResult } from './wrk.ts';

const t00 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t00) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

interface Sample extends Measured {
  case: string;
  round: number;
}

/** Errors, non-2xx answers and timeouts found anywhere: a run with any of them measured the wrong thing. */
const problems: string[] = [];
function check<T extends LoadResult | DriveResult>(what: string, r: T): T {
  if (r.non2xx > 0 || r.errors > 0 || r.requests === 0) {
    const codes = 'statusCodes' in r ? ` (${JSON.stringify(r.statusCodes)})` : ' (status >= 400)';
    problems.push(`${what}: ${r.requests} responses, ${r.non2xx} not 2xx${codes}, ${r.errors} socket errors/timeouts`);
  }
  return r;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const s = settingsFrom(argv);
  const command = ['node', 'bench/run.ts', ...argv].join(' ');
  const startedAt = new Date();
  const machine = describeMachine(REPO, startedAt);
  log(`${command}\n[bench] ${machineLine(machine)}`);
  const wrk = findWrk();
  log(`load generator: ${wrk}, ${s.threads} thread(s); CPU clock ${clockTicks()} ticks/s`);
  // Measure what users run: the compiled gateway (npm run build), not type-stripped sources.
  buildGateway();

  const procs: Proc[] = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-'));
  let apikeys: ApiKeysEmulator | undefined;
  let metadata: MetadataEmulator | undefined;
  const stopAll = async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
  };
  const forget = (p: Proc) => {
    const i = procs.indexOf(p);
    if (i >= 0) procs.splice(i, 1);
  };
  const onSignal = () => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Upstreams the gateway talks to, in this process: their own counters count the calls.
    apikeys = await startApiKeysEmulator();
    metadata = await startMetadataEmulator({ projectId: 'bench-project' });
    apikeys.addKey({ keyString: MAIN_KEY, displayName: 'bench' });
    for (let i = 0; i < s.keys; i++) apikeys.addKey({ keyString: manyKey(i), displayName: 'bench' });
    for (let i = 0; i < WARM_KEYS; i++) apikeys.addKey({ keyString: warmKey(i), displayName: 'bench' });
    const up: Upstreams = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
    const metadataCalls = () => metadata!.requests.length;
    const apikeysCalls = () => apikeys!.counts.lookupKey + apikeys!.counts.getKey + apikeys!.counts.other;

    const { proc: backend, kind: backendKind, nginx } = await startBackend(path.join(tmp, 'backend'));
    procs.push(backend);
    if ('missing' in nginx) log(`nginx ${s.smoke ? 'skipped' : 'missing'}: ${nginx.missing}; the backend is node:http`);

    const specs = new Map<number, string>();
    for (const n of new Set([...s.specSizes, s.startSpecSize])) {
      specs.set(n, await writeSpec(path.join(tmp, `spec-${n}.yaml`), { operations: n, backendUrl: backend.url }));
    }
    const profileDir = path.join(REPO, 'bench/results/profiles');
    if (s.profile) await mkdir(profileDir, { recursive: true });
    const ctx: CaseContext = {
      backend,
      up,
      specOf: (n) => specs.get(n) ?? assertNever(`no ${n}-op spec was written`),
      dirOf: (id) => path.join(tmp, id),
      mainKey: MAIN_KEY,
      // nginx sends the same kind of ID token the gateway does, minted once by the metadata emulator.
      ...('bin' in nginx ? { nginx: { ...nginx, bearer: await mintIdToken(metadata.host, backend.url) } } : {}),
    };
    const defs = sideBySideCases({ specSizes: s.specSizes, validate: serveSupports('--validate'), ...(s.profile ? { profileDir } : {}) });
    const mainId = gatewayId(s.specSizes[0]!);

    // --- Side by side. All servers start at once (the 10,000-op gateway alone takes seconds); idle
    // ones cost no CPU. The RSS case gets its own gateway, which sees no traffic until its turn.
    log('starting the servers under test');
    const [rssStarted, ...started] = await Promise.allSettled([
      startGateway('gateway-rss', ctx.specOf(s.specSizes[0]!), up, { nodeOptions: [INSPECT_ANY_PORT] }),
      ...defs.map((d) => d.start(ctx) ?? Promise.resolve(undefined)),
    ]);
    for (const r of [rssStarted!, ...started]) if (r.status === 'fulfilled' && r.value !== undefined && r.value !== backend) procs.push(r.value);
    if (rssStarted!.status === 'rejected') throw rssStarted!.reason;
    const rssGw = rssStarted!.value;
    const cases: { def: CaseDef; proc: Proc }[] = [];
    const missing = new Map<string, string>();
    for (const [i, r] of started.entries()) {
      const def = defs[i]!;
      if (r.status === 'fulfilled' && r.value !== undefined) cases.push({ def, proc: r.value });
      // Only nginx may be missing (not installed, or will not start): anything else is a broken run.
      else if (def.id === NGINX) missing.set(def.id, r.status === 'rejected' ? `nginx would not start: ${String(r.reason)}` : ('missing' in nginx ? nginx.missing : 'nginx did not start'));
      else throw r.status === 'rejected' ? r.reason : new Error(`${def.id} did not start`);
    }
    for (const [id, why] of missing) log(`${id} case ${s.smoke ? 'skipped' : 'missing'}: ${why}`);
    log('all servers ready');
    const mainGw = cases.find((c) => c.def.id === mainId)!.proc;
    const path0 = withKey(MAIN_KEY);
    const load = (proc: Proc, durationS: number) => ({ url: proc.url, path: path0, connections: s.connections, threads: s.threads, durationS });

    log(s.warmupS >= 1 ? `warming up (${s.warmupS} s each)` : 'warming up');
    for (const { def, proc } of cases) {
      // The first call is cold (key lookup, ID token); it must succeed before any load.
      const first = await getStatus(proc.url + path0, 10_000);
      if (first !== 200) throw new Error(`${def.id}: first request answered ${first}, expected 200:\n${proc.stderr()}`);
      // wrk runs for whole seconds: shorter warm-ups are counted in requests instead.
      if (s.warmupS >= 1) check(`${def.id} warm-up`, await runLoad(load(proc, s.warmupS)));
      else if (s.warmupS > 0) check(`${def.id} warm-up`, await drive(proc.url, () => path0, Math.max(s.connections, Math.round(s.warmupS * 1_000)), s.connections));
    }

    // Upstream calls per 10,000 requests once warm (main gateway only; all gateways share the emulators).
    apikeys.resetCounts();
    const md0 = metadataCalls();
    const warmRun = check('upstream-calls run', await drive(mainGw.url, () => path0, s.warmRequests, s.connections));
    const upstream = { requests: warmRun.requests, apikeysCalls: apikeysCalls(), metadataCalls: metadataCalls() - md0 };
    log(`upstream calls over ${upstream.requests} warm requests: API Keys ${upstream.apikeysCalls}, metadata ${upstream.metadataCalls}`);

    const samples: Sample[] = [];
    const roundsStart = { apikeys: apikeysCalls(), metadata: metadataCalls() };
    for (let round = 1; round <= s.rounds; round++) {
      for (const { def, proc } of cases) {
        const r = check(`${def.id} round ${round}`, await measuredLoad(load(proc, s.durationS), proc.pid, backend.pid));
        samples.push({ case: def.id, round, ...r });
        log(`round ${round}/${s.rounds}: ${def.id.padEnd(24)} ${Math.round(r.rps).toString().padStart(6)} req/s, p99 ${r.p99.toFixed(1)} ms, ${r.cpuUsPerReq.toFixed(1)} µs CPU/req (${r.processes} process(es))`);
      }
    }
    const roundsUpstream = { apikeysCalls: apikeysCalls() - roundsStart.apikeys, metadataCalls: metadataCalls() - roundsStart.metadata };

    const rssAfterRounds: Record<string, number | undefined> = {};
    for (const { def, proc } of cases) rssAfterRounds[def.id] = await readTreeRss(proc.pid);
    let metricsScrape: { status: number; bytes: number } | undefined;
    const mainAdmin = (mainGw as GatewayProc).adminUrl;
    if (mainAdmin !== undefined) {
      const m = await getText(`${mainAdmin}/metrics`);
      metricsScrape = { status: m.status, bytes: m.body.length };
      if (m.status !== 200) problems.push(`metrics scrape answered ${m.status}`);
    }
    log('stopping the side-by-side servers');
    for (const { proc } of cases) {
      if (proc === backend) continue;
      await proc.stop(15_000);
      forget(proc);
    }

    // --- RSS after load with many distinct cached keys (a fresh gateway, main spec). ---
    log(`RSS case: ${s.keys} distinct keys`);
    const rssAtStart = await readRss(rssGw.pid);
    // The RSS read must be the gateway's own node process (the shebang's env execs node in place).
    const rssProcess = await processInfo(rssGw.pid);
    if (rssProcess === undefined || !/\bnode$/.test(rssProcess.exe) || !rssProcess.argv.some((a) => a.endsWith('dist/cli.js'))) {
      problems.push(`the RSS case's pid ${rssGw.pid} is not node running dist/cli.js: ${JSON.stringify(rssProcess)}`);
    }
    const fillAmount = Math.max(s.keys, s.connections);
    // The same traffic through a few other keys first (cold lookups included), so code, pools and
    // caches other than the measured keys' are warm when the live heap is measured without them.
    check('rss warm-up', await drive(rssGw.url, (i) => withKey(warmKey(i % WARM_KEYS)), fillAmount, s.connections));
    let heapProbe: HeapProbe | undefined;
    let heapBefore: number | undefined;
    if (rssGw.adminUrl !== undefined) {
      heapProbe = await openHeapProbe(rssGw, `${rssGw.adminUrl}/metrics`);
      heapBefore = await heapProbe.liveHeapBytes();
    } else problems.push('the RSS gateway has no admin listener: heap per key not measured');
    // Every key once (cold lookups), then load rotating through all of them (every verdict cached).
    // Few at a time: the API Keys emulator shares this process, and a lookup it answers later than the
    // gateway's deadline is a 503 (on a loaded 2-core machine, 50 at a time got there).
    check('rss fill', await drive(rssGw.url, rotatingKeys(s.keys), fillAmount, Math.min(s.connections, FILL_CONCURRENCY)));
    const ak0 = apikeysCalls();
    const rssLoad = check('rss load', await measuredLoad({ ...load(rssGw, s.durationS), path: rotatingKeysForWrk(s.keys) }, rssGw.pid, backend.pid));
    const rssLoadLookups = apikeysCalls() - ak0;
    const rssAfter = await readRss(rssGw.pid);
    // Every process of the gateway (with workers: the primary and each worker), each held to the target.
    const rssByProcess = await readRssByProcess(rssGw.pid);
    const rssTree = rssByProcess.reduce((t, p) => t + p.rss, 0);
    const rssMaxProcess = rssByProcess.length > 0 ? Math.max(...rssByProcess.map((p) => p.rss)) : NaN;
    const heapAfter = heapProbe ? await heapProbe.liveHeapBytes() : undefined;
    heapProbe?.close();
    const heapPerKey = heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / s.keys : NaN;
    await rssGw.stop();
    forget(rssGw);
    if (rssAfter === undefined) problems.push('could not read /proc/<pid>/status for the RSS case');
    log(`RSS: ${rssAfter ? fmtMiB(rssAfter.rss) : '?'} after load (${rssLoad.requests} requests, ${rssLoadLookups} API Keys calls during it); live heap ${heapBefore !== undefined ? fmtMiB(heapBefore) : '?'} → ${heapAfter !== undefined ? fmtMiB(heapAfter) : '?'}, ${heapPerKey.toFixed(0)} B per key`);

    // --- Start to first 200 with a larger spec: cold caches (validated spec, bytecode) and warm, alternated. ---
    const starts = await coldAndWarmStarts({
      spec: ctx.specOf(s.startSpecSize),
      up,
      tmp: await mkdtemp(path.join(tmp, 'starts-')),
      starts: s.starts,
      onStart: (kind, t) => log(`start to first 200, ${kind} caches: ${t.ms.toFixed(0)} ms (CPU ${t.cpuMs.toFixed(0)} ms)`),
    });

    // --- Summaries, targets, table. ---
    const by = (id: string, f: (x: Sample) => number) => samples.filter((x) => x.case === id).map(f);
    const figure = { rps: (x: Sample) => x.rps, p99: (x: Sample) => x.p99, cpu: (x: Sample) => x.cpuUsPerReq } as const;
    const paired = (a: string, b: string, f: keyof typeof figure) => pairedRatio(by(a, figure[f]), by(b, figure[f]));
    const summary: Record<string, { rps: Spread; p99: Spread; p50: Spread; cpuUsPerReq: Spread; backendCpuUsPerReq: Spread }> = {};
    for (const { def } of cases) {
      summary[def.id] = {
        rps: spread(by(def.id, figure.rps)),
        p99: spread(by(def.id, figure.p99)),
        p50: spread(by(def.id, (x) => x.p50)),
        cpuUsPerReq: spread(by(def.id, figure.cpu)),
        backendCpuUsPerReq: spread(by(def.id, (x) => x.backendCpuUsPerReq)),
      };
    }

    const has = (id: string) => cases.some((c) => c.def.id === id);
    const largestId = cases[cases.length - 1]!.def.id;
    const gwVsBase = paired(mainId, BASELINE, 'rps');
    const gwVsFloor = paired(mainId, FLOOR, 'rps');
    const gwP99VsFloor = paired(mainId, FLOOR, 'p99');
    const gwCpuVsFloor = paired(mainId, FLOOR, 'cpu');
    const opsRatio = paired(largestId, mainId, 'rps');
    const judge = (ok: boolean) => (s.smoke ? null : ok);
    const per10k = (calls: number, reqs: number) => (reqs > 0 ? (calls * 10_000) / reqs : NaN);
    const coldMedian = median(starts.cold.map((t) => t.ms));
    const warmMedian = median(starts.warm.map((t) => t.ms));
    const targets: Record<string, Target> = {
      gwRps: { id: 'vs baseline', text: '≥ 1.6× baseline req/s', measured: gwVsBase, pass: judge(gwVsBase >= 1.6) },
      gwFloor: { id: 'vs floor', text: '≥ 0.7× floor req/s', measured: gwVsFloor, pass: judge(gwVsFloor >= 0.7) },
      gwP99: { id: 'p99', text: '≤ 1.5× floor p99', measured: gwP99VsFloor, pass: judge(gwP99VsFloor <= 1.5) },
      gwCpu: { id: 'CPU', text: '≤ 1.2× floor CPU/req', measured: gwCpuVsFloor, pass: judge(gwCpuVsFloor <= 1.2) },
      ops: { id: 'ops', text: `≥ 0.95× the ${s.specSizes[0]}-op req/s`, measured: opsRatio, pass: judge(opsRatio >= 0.95) },
      rss: { id: 'rss', text: `≤ ${fmtMiB(RSS_LIMIT)} per process`, measured: rssMaxProcess, pass: judge(rssMaxProcess <= RSS_LIMIT) },
      heapPerKey: { id: 'heap/key', text: '≤ 1 KiB', measured: heapPerKey, pass: judge(heapPerKey <= 1024) },
      start: { id: 'start', text: '≤ 300 ms cold', measured: coldMedian, pass: judge(coldMedian <= 300) },
      startWarm: { id: 'start warm', text: '< cold', measured: warmMedian, pass: judge(warmMedian < coldMedian) },
      apikeys: { id: 'apikeys', text: '0', measured: per10k(upstream.apikeysCalls, upstream.requests), pass: judge(upstream.apikeysCalls === 0) },
      metadata: { id: 'metadata', text: '0', measured: per10k(upstream.metadataCalls, upstream.requests), pass: judge(upstream.metadataCalls === 0) },
    };
    const mainTargets = [targets.gwRps!, targets.gwFloor!, targets.gwP99!, targets.gwCpu!];

    const shortOf = (id: string) => defs.find((d) => d.id === id)?.short ?? id;
    const figureName = { rps: 'req/s', p99: 'p99', cpu: 'CPU/req' } as const;
    const rows: Row[] = [];
    for (const def of defs) {
      const why = missing.get(def.id);
      if (why !== undefined) {
        if (!s.smoke) rows.push({ measurement: def.label, median: 'missing', p99: '', cpu: '', ratio: why, target: '', result: '' });
        continue;
      }
      const sm = summary[def.id]!;
      const ratio = (def.compare ?? [])
        .filter((c) => has(c.to))
        .flatMap((c) => c.figures.map((f) => `${fmtX(paired(def.id, c.to, f))} ${shortOf(c.to)} ${figureName[f]}`))
        .join(', ');
      const target = def.id === mainId ? mainTargets.map((t) => t.text).join(', ') : def.id === largestId && largestId !== mainId ? targets.ops!.text : '';
      const result = def.id === mainId ? verdict(mainTargets) : def.id === largestId && largestId !== mainId ? verdict([targets.ops!]) : '';
      const label = def.id === NGINX && ctx.nginx ? def.label.replace('nginx', `nginx ${ctx.nginx.version}`) : def.id === 'direct' ? `${def.label} (${backendKind})` : def.label;
      rows.push({ measurement: label, median: fmtRps(sm.rps), p99: fmtP99(sm.p99), cpu: fmtCpu(sm.cpuUsPerReq), ratio, target, result });
    }
    const rssOf = (id: string) => (rssAfterRounds[id] !== undefined ? fmtMiB(rssAfterRounds[id]!) : '?');
    rows.push({
      measurement: `RSS after load, ${s.keys.toLocaleString('en-US')} distinct cached keys`,
      median: rssAfter ? fmtMiB(rssAfter.rss) : 'n/a',
      p99: '',
      cpu: fmtCpu(spread([rssLoad.cpuUsPerReq])),
      ratio:
        (rssByProcess.length > 1 ? `${rssByProcess.length} processes, ${fmtMiB(rssTree)} in all, largest ${fmtMiB(rssMaxProcess)}; ` : '') +
        `peak ${rssAfter ? fmtMiB(rssAfter.peak) : '?'}; ${rssAtStart ? fmtMiB(rssAtStart.rss) : '?'} at start; ` +
        `baseline ${rssOf(BASELINE)}, floor ${rssOf(FLOOR)}` +
        (has(NGINX) ? `, nginx ${rssOf(NGINX)}` : '') +
        ` (after the rounds); ${fmtRps(spread([rssLoad.rps]))} through the keys`,
      target: targets.rss!.text,
      result: verdict([targets.rss!]),
    });
    rows.push({
      measurement: `live heap per cached key, 0 → ${s.keys.toLocaleString('en-US')} keys`,
      median: Number.isFinite(heapPerKey) ? `${heapPerKey.toFixed(0)} B` : 'n/a',
      p99: '',
      cpu: '',
      ratio: `heap in use after a full GC (/metrics): ${heapBefore !== undefined ? fmtMiB(heapBefore) : '?'} → ${heapAfter !== undefined ? fmtMiB(heapAfter) : '?'}`,
      target: targets.heapPerKey!.text,
      result: verdict([targets.heapPerKey!]),
    });
    for (const [kind, timed, target] of [
      ['cold', starts.cold, targets.start!],
      ['warm', starts.warm, targets.startWarm!],
    ] as const) {
      rows.push({
        measurement: `start → first 200, ${s.startSpecSize.toLocaleString('en-US')}-op spec, ${kind} caches`,
        median: fmtSpread(timed.map((t) => t.ms)),
        p99: '',
        cpu: `${fmtSpread(timed.map((t) => t.cpuMs))} CPU`,
        ratio: `median of ${timed.length} starts` + (kind === 'cold' ? ': empty validated-spec and bytecode caches' : ': both caches filled by an earlier start'),
        target: target.text,
        result: verdict([target]),
      });
    }
    for (const [key, name, during] of [
      ['apikeys', 'API Keys', roundsUpstream.apikeysCalls],
      ['metadata', 'metadata', roundsUpstream.metadataCalls],
    ] as const) {
      rows.push({
        measurement: `${name} calls per 10,000 warm requests`,
        median: String(targets[key]!.measured),
        p99: '',
        cpu: '',
        ratio: `${during} during all measured rounds`,
        target: targets[key]!.text,
        result: verdict([targets[key]!]),
      });
    }

    const table = markdownTable(rows);
    const footer =
      `${s.rounds} round(s) × ${s.durationS} s per case, wrk -t${s.threads} -c${s.connections}, cases alternated A B A B; ` +
      `ratios are medians of per-round paired ratios. CPU µs/req: user + system time of the server's whole process tree ` +
      `(/proc/<pid>/stat, ${clockTicks()} ticks/s) over each run, divided by the requests it served; the backend is ${backendKind}, in its own process.` +
      (s.profile ? ` The ${mainId} case ran under --cpu-prof: its numbers include the profiler's overhead.` : '') +
      `\n` +
      `Machine: ${machineLine(machine)}.\nCommand: \`${command}\``;
    process.stdout.write(`\n${table}\n\n${footer}\n`);
    if (problems.length > 0) process.stdout.write(`\nPROBLEMS (the numbers above are not trustworthy):\n- ${problems.join('\n- ')}\n`);

    if (s.save) {
      const dir = path.join(REPO, 'bench/results');
      await mkdir(dir, { recursive: true });
      const result = {
        schema: 2,
        mode: s.smoke ? 'smoke' : 'full',
        command,
        machine,
        settings: s,
        loadGenerator: { wrk, threads: s.threads },
        clockTicksPerSecond: clockTicks(),
        backend: backendKind,
        finished: new Date().toISOString(),
        summary,
        targets,
        rss: {
          process: rssProcess,
          atStart: rssAtStart,
          afterLoad: rssAfter,
          afterLoadByProcess: rssByProcess,
          afterLoadTree: rssTree,
          keys: s.keys,
          loadRequests: rssLoad.requests,
          loadRps: rssLoad.rps,
          loadCpuUsPerReq: rssLoad.cpuUsPerReq,
          apikeysCallsDuringLoad: rssLoadLookups,
          afterRoundsByCase: rssAfterRounds,
        },
        heap: { beforeKeysBytes: heapBefore, afterKeysBytes: heapAfter, perKeyBytes: heapPerKey },
        nginx,
        missingCases: Object.fromEntries(missing),
        startToFirst200: { cold: starts.cold, warm: starts.warm, coldMedianMs: coldMedian, warmMedianMs: warmMedian, specOperations: s.startSpecSize },
        upstreamCalls: { warm: upstream, duringRounds: roundsUpstream },
        metricsScrape,
        samples,
        problems,
        table,
      };
      const json = JSON.stringify(result, null, 2) + '\n';
      if (s.smoke) {
        await writeFile(path.join(dir, 'smoke.json'), json);
      } else {
        await writeFile(path.join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), json);
        await writeFile(path.join(dir, 'latest.json'), json);
        await writeFile(path.join(dir, 'latest.md'), `${table}\n\n${footer}\n`);
      }
      log(`results written to bench/results/${s.smoke ? 'smoke.json' : 'latest.json'}`);
    }
    if (s.profile) log(`CPU profile of ${mainId} in bench/results/profiles/ (open in Chrome DevTools → Performance)`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await stopAll();
    await apikeys?.close();
    await metadata?.close();
    await rm(tmp, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

function assertNever(message: string): never {
  throw new Error(message);
}

/** An ID token from the metadata emulator, as the gateway gets one, for nginx's static Authorization header. */
async function mintIdToken(metadataHost: string, audience: string): Promise<string> {
  const url = `http://${metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}`;
  const res = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' } });
  if (!res.ok) throw new Error(`metadata emulator answered ${res.status} for an ID token`);
  return (await res.text()).trim();
}
