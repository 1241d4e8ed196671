// The gateway benchmark: `npm run bench` (full, ~5 min) or `npm run bench -- --smoke` (a few seconds, CI).
// Everything runs on loopback, each server in its own process; autocannon drives them from here.
// Cases alternate A B A B over rounds on a noisy 2-core machine, so the table reports medians and
// paired ratios, never single absolute numbers. Targets are reported as pass/miss, never asserted.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../test/emulators/metadata-server.ts';
import {
  buildGateway,
  REPO,
  startBackend,
  startExpressHpm,
  serveSupports,
  startGateway,
  startUndiciProxy,
  timeToFirst200,
  type GatewayProc,
  type Upstreams,
} from './cases.ts';
import { runLoad, type LoadResult } from './load.ts';
import { describeMachine, machineLine } from './machine.ts';
import { inspectPortOption, openHeapProbe, type HeapProbe } from './heap.ts';
import { MAIN_KEY, manyKey, rotatingKeys, WARM_KEYS, warmKey, withKey } from './keys.ts';
import { findNginx, startNginx } from './nginx.ts';
import { freePort, getStatus, getText, processInfo, readRss, type Proc } from './procs.ts';
import { fmtMiB, fmtMs, fmtP99, fmtRps, fmtX, markdownTable, spread, verdict, type Row, type Spread, type Target } from './report.ts';
import { writeSpec } from './spec.ts';
import { median, pairedRatio } from './stats.ts';

const USAGE = `Usage: node bench/run.ts [options]   (npm run bench -- [options])

  --smoke            a few seconds in total: tiny durations, one round, fewer keys, no thresholds
  --profile          run the main gateway case under --cpu-prof (profiles in bench/results/profiles/)
  --rounds N         rounds of A B A B (default 3; smoke 1)
  --duration S       seconds per case per round (default 10; smoke 1)
  --warmup S         warm-up seconds per server before the rounds (default 3; smoke 0.5;
                     below 1 s it means S × 1,000 requests, autocannon ticks once a second)
  --connections N    autocannon connections (default 50; smoke 10)
  --keys N           distinct cached API keys for the RSS case (default 10000; smoke 200)
  --starts N         gateway starts timed to the first 200 (default 5; smoke 1)
  --no-save          do not write bench/results/
  -h, --help`;

interface Settings {
  smoke: boolean;
  profile: boolean;
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  keys: number;
  starts: number;
  save: boolean;
  /** Operations in the specs compared for routing cost; the first is the main gateway case. */
  specSizes: readonly number[];
  /** Operations in the spec timed from start to first 200. */
  startSpecSize: number;
  /** Requests in the warm run that counts upstream calls (reported per 10,000). */
  warmRequests: number;
}

function settingsFrom(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      keys: { type: 'string' },
      starts: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const smoke = values.smoke;
  const num = (name: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got ${v})`);
    return n;
  };
  return {
    smoke,
    profile: values.profile,
    rounds: Math.round(num('rounds', values.rounds, smoke ? 1 : 3, 1)),
    durationS: Math.round(num('duration', values.duration, smoke ? 1 : 10, 1)),
    warmupS: num('warmup', values.warmup, smoke ? 0.5 : 3, 0),
    connections: Math.round(num('connections', values.connections, smoke ? 10 : 50, 1)),
    keys: Math.round(num('keys', values.keys, smoke ? 200 : 10_000, 1)),
    starts: Math.round(num('starts', values.starts, smoke ? 1 : 5, 1)),
    save: !values['no-save'],
    // Smoke keeps every code path but not the 10,000-op spec, which alone takes seconds to load;
    // every gateway process costs a second or two of start-up on two cores.
    specSizes: smoke ? [10, 1_000] : [10, 1_000, 10_000],
    startSpecSize: 1_000,
    warmRequests: smoke ? 1_000 : 10_000,
  };
}

const t00 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t00) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);


/** The main gateway with `--validate report`: what checking traffic against the spec costs. */
const VALIDATE_ID = 'gateway-validate-report';

interface LoadCase {
  id: string;
  label: string;
  proc: Proc;
}

interface Sample extends LoadResult {
  case: string;
  round: number;
}

/** Errors, non-2xx answers and timeouts found anywhere: a run with any of them measured the wrong thing. */
const problems: string[] = [];
function check(what: string, r: LoadResult): LoadResult {
  if (r.non2xx > 0 || r.errors > 0 || r.requests === 0) {
    problems.push(`${what}: ${r.requests} responses, ${r.non2xx} not 2xx (${JSON.stringify(r.statusCodes)}), ${r.errors} socket errors/timeouts`);
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
  // Measure what users run: the compiled gateway (npm run build), not type-stripped sources.
  buildGateway();

  const procs: Proc[] = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-'));
  let apikeys: ApiKeysEmulator | undefined;
  let metadata: MetadataEmulator | undefined;
  const stopAll = async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
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

    const backend = await startBackend();
    procs.push(backend);
    // nginx sends the same kind of ID token the gateway does, minted once by the metadata emulator.
    const nginx = findNginx();
    let nginxMissing = 'missing' in nginx ? nginx.missing : undefined;
    if (nginxMissing !== undefined) log(`nginx case ${s.smoke ? 'skipped' : 'missing'}: ${nginxMissing}`);
    const bearer = 'bin' in nginx ? await mintIdToken(metadata.host, backend.url) : '';
    const specs = new Map<number, string>();
    for (const n of new Set([...s.specSizes, s.startSpecSize])) {
      specs.set(n, await writeSpec(path.join(tmp, `spec-${n}.yaml`), { operations: n, backendUrl: backend.url }));
    }
    const specOf = (n: number) => specs.get(n)!;

    // --- Side by side: direct, bare express+hpm, bare undici, the gateway at three spec sizes. ---
    // All servers start at once (the 10,000-op gateway alone takes seconds); idle ones cost no CPU.
    // The RSS case gets its own gateway, which sees no traffic until its own turn.
    log('starting the servers under test');
    const profileDir = path.join(REPO, 'bench/results/profiles');
    if (s.profile) await mkdir(profileDir, { recursive: true });
    const rssInspectPort = await freePort();
    const withValidate = serveSupports('--validate');
    const started = await Promise.allSettled([
      startExpressHpm(backend.url),
      startUndiciProxy(backend.url),
      // An nginx that is there but will not start is reported like a missing one, never a failed run.
      'bin' in nginx
        ? startNginx(nginx.bin, path.join(tmp, 'nginx'), { key: MAIN_KEY, bearer, backendUrl: backend.url }).catch((err: unknown) => {
            nginxMissing = `nginx would not start: ${err instanceof Error ? err.message : String(err)}`;
            log(`nginx case ${s.smoke ? 'skipped' : 'missing'}: ${nginxMissing}`);
            return undefined;
          })
        : Promise.resolve(undefined),
      // The inspector port only says where SIGUSR1 would open it: the heap probe forces GCs through it.
      startGateway('gateway-rss', specOf(s.specSizes[0]!), up, [inspectPortOption(rssInspectPort)]),
      ...s.specSizes.map((n, i) =>
        startGateway(`gateway-${n}`, specOf(n), up, s.profile && i === 0 ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ),
      // The main gateway again, with every request and response checked against the spec (last, popped below).
      ...(withValidate ? [startGateway(VALIDATE_ID, specOf(s.specSizes[0]!), up, [], ['--validate', 'report'])] : []),
    ]);
    for (const r of started) if (r.status === 'fulfilled' && r.value !== undefined) procs.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [hpm, undici, ngx, rssGw, ...gateways] = started.map((r) => (r as PromiseFulfilledResult<GatewayProc | undefined>).value) as [
      Proc, Proc, Proc | undefined, GatewayProc, ...GatewayProc[],
    ];
    const validateGw = withValidate ? gateways.pop() : undefined;
    log('all servers ready');
    const mainGw = gateways[0]!;
    const cases: LoadCase[] = [
      { id: 'direct', label: '1. backend called directly', proc: backend },
      { id: 'hpm', label: '2. express 5 + hpm 4, bare (baseline)', proc: hpm },
      { id: 'undici', label: '3. node:http + undici, bare (floor)', proc: undici },
      ...(ngx ? [{ id: 'nginx', label: `4. nginx ${nginxVersion('bin' in nginx ? nginx.bin : '')}, key map + static token, 1 worker`, proc: ngx }] : []),
      ...gateways.map((gw, i) => ({
        id: `gateway-${s.specSizes[i]}`,
        label: i === 0 ? `5. gateway, everything on (${s.specSizes[i]!.toLocaleString('en-US')} ops)` : `gateway, ${s.specSizes[i]!.toLocaleString('en-US')} ops`,
        proc: gw,
      })),
    ];
    // Right after the everything-on case it is compared to (the last case stays the largest spec).
    if (validateGw) cases.splice(cases.findIndex((c) => c.id === `gateway-${s.specSizes[0]}`) + 1, 0, { id: VALIDATE_ID, label: `gateway, --validate report (${s.specSizes[0]} ops)`, proc: validateGw });
    const path0 = withKey(MAIN_KEY);

    log(s.warmupS >= 1 ? `warming up (${s.warmupS} s each)` : 'warming up');
    for (const c of cases) {
      // The first call is cold (key lookup, ID token); it must succeed before any load.
      const first = await getStatus(c.proc.url + path0, 10_000);
      if (first !== 200) throw new Error(`${c.id}: first request answered ${first}, expected 200:\n${c.proc.stderr()}`);
      // autocannon ticks once a second, so short warm-ups are counted in requests instead.
      const warm = s.warmupS >= 1 ? { durationS: s.warmupS } : { amount: Math.max(s.connections, Math.round(s.warmupS * 1_000)) };
      if (s.warmupS > 0) check(`${c.id} warm-up`, await runLoad({ url: c.proc.url, path: path0, connections: s.connections, ...warm }));
    }

    // Upstream calls per 10,000 requests once warm (main gateway only; all gateways share the emulators).
    apikeys.resetCounts();
    const md0 = metadataCalls();
    const warmRun = check('upstream-calls run', await runLoad({ url: mainGw.url, path: path0, connections: s.connections, amount: s.warmRequests }));
    const upstream = { requests: warmRun.requests, apikeysCalls: apikeysCalls(), metadataCalls: metadataCalls() - md0 };
    log(`upstream calls over ${upstream.requests} warm requests: API Keys ${upstream.apikeysCalls}, metadata ${upstream.metadataCalls}`);

    const samples: Sample[] = [];
    const roundsStart = { apikeys: apikeysCalls(), metadata: metadataCalls() };
    for (let round = 1; round <= s.rounds; round++) {
      for (const c of cases) {
        log(`round ${round}/${s.rounds}: ${c.id} (${s.durationS} s, c=${s.connections})`);
        const r = check(`${c.id} round ${round}`, await runLoad({ url: c.proc.url, path: path0, connections: s.connections, durationS: s.durationS }));
        samples.push({ case: c.id, round, ...r });
      }
    }
    const roundsUpstream = { apikeysCalls: apikeysCalls() - roundsStart.apikeys, metadataCalls: metadataCalls() - roundsStart.metadata };

    const rssAfterRounds: Record<string, number | undefined> = {};
    for (const c of cases) rssAfterRounds[c.id] = (await readRss(c.proc.child.pid!))?.rss;
    let metricsScrape: { status: number; bytes: number } | undefined;
    if (mainGw.adminUrl !== undefined) {
      const m = await getText(`${mainGw.adminUrl}/metrics`);
      metricsScrape = { status: m.status, bytes: m.body.length };
      if (m.status !== 200) problems.push(`metrics scrape answered ${m.status}`);
    }
    log('stopping the side-by-side servers');
    for (const p of [hpm, undici, ...(ngx ? [ngx] : []), ...gateways, ...(validateGw ? [validateGw] : [])]) {
      await p.stop(15_000);
      procs.splice(procs.indexOf(p), 1);
    }

    // --- RSS after load with many distinct cached keys (a fresh gateway, main spec). ---
    log(`RSS case: ${s.keys} distinct keys`);
    const rssAtStart = await readRss(rssGw.child.pid!);
    // The RSS read must be the gateway's own node process (the shebang's env execs node in place).
    const rssProcess = await processInfo(rssGw.child.pid!);
    if (rssProcess === undefined || !/\bnode$/.test(rssProcess.exe) || !rssProcess.argv.some((a) => a.endsWith('dist/cli.js'))) {
      problems.push(`the RSS case's pid ${rssGw.child.pid} is not node running dist/cli.js: ${JSON.stringify(rssProcess)}`);
    }
    const fillAmount = Math.max(s.keys, s.connections);
    // The same traffic through a few other keys first (cold lookups included), so code, pools and
    // caches other than the measured keys' are warm when the live heap is measured without them.
    check('rss warm-up', await runLoad({ url: rssGw.url, path: (i) => withKey(warmKey(i % WARM_KEYS)), connections: s.connections, amount: fillAmount }));
    let heapProbe: HeapProbe | undefined;
    let heapBefore: number | undefined;
    if (rssGw.adminUrl !== undefined) {
      heapProbe = await openHeapProbe(rssGw.child.pid!, rssInspectPort, `${rssGw.adminUrl}/metrics`);
      heapBefore = await heapProbe.liveHeapBytes();
    } else problems.push('the RSS gateway has no admin listener: heap per key not measured');
    // Every key once (cold lookups), then load rotating through all of them (every verdict cached).
    check('rss fill', await runLoad({ url: rssGw.url, path: rotatingKeys(s.keys), connections: s.connections, amount: fillAmount }));
    const ak0 = apikeysCalls();
    const rssLoad = check('rss load', await runLoad({ url: rssGw.url, path: rotatingKeys(s.keys), connections: s.connections, durationS: s.durationS }));
    const rssLoadLookups = apikeysCalls() - ak0;
    const rssAfter = await readRss(rssGw.child.pid!);
    const heapAfter = heapProbe ? await heapProbe.liveHeapBytes() : undefined;
    heapProbe?.close();
    const heapPerKey = heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / s.keys : NaN;
    await rssGw.stop();
    procs.splice(procs.indexOf(rssGw), 1);
    if (rssAfter === undefined) problems.push('could not read /proc/<pid>/status for the RSS case');
    log(`RSS: ${rssAfter ? fmtMiB(rssAfter.rss) : '?'} after load (${rssLoad.requests} requests, ${rssLoadLookups} API Keys calls during it); live heap ${heapBefore !== undefined ? fmtMiB(heapBefore) : '?'} → ${heapAfter !== undefined ? fmtMiB(heapAfter) : '?'}, ${heapPerKey.toFixed(0)} B per key`);

    // --- Start to first 200 with a larger spec. ---
    const startMs: number[] = [];
    for (let i = 0; i < s.starts; i++) {
      startMs.push(await timeToFirst200(specOf(s.startSpecSize), up, path0));
      log(`start to first 200 #${i + 1}: ${startMs[i]!.toFixed(0)} ms`);
    }

    // --- Summaries, targets, table. ---
    const by = (id: string, f: (x: Sample) => number) => samples.filter((x) => x.case === id).map(f);
    const rps = (id: string) => by(id, (x) => x.rps);
    const p99 = (id: string) => by(id, (x) => x.p99);
    const summary: Record<string, { rps: Spread; p99: Spread; p50: Spread }> = {};
    for (const c of cases) summary[c.id] = { rps: spread(rps(c.id)), p99: spread(p99(c.id)), p50: spread(by(c.id, (x) => x.p50)) };

    const mainId = `gateway-${s.specSizes[0]}`;
    const largestId = cases[cases.length - 1]!.id;
    const gwVsBase = pairedRatio(rps(mainId), rps('hpm'));
    const gwP99VsBase = pairedRatio(p99(mainId), p99('hpm'));
    const gwVsFloor = pairedRatio(rps(mainId), rps('undici'));
    const gwP99VsFloor = pairedRatio(p99(mainId), p99('undici'));
    const gwVsNginx = ngx ? pairedRatio(rps(mainId), rps('nginx')) : NaN;
    const opsRatio = pairedRatio(rps(largestId), rps(mainId));
    const judge = (ok: boolean) => (s.smoke ? null : ok);
    const per10k = (calls: number, reqs: number) => (reqs > 0 ? (calls * 10_000) / reqs : NaN);
    const startMedian = median(startMs);
    const targets: Record<string, Target> = {
      gwRps: { id: 'vs baseline', text: '≥ 1.6× baseline req/s', measured: gwVsBase, pass: judge(gwVsBase >= 1.6) },
      gwFloor: { id: 'vs floor', text: '≥ 0.7× floor req/s', measured: gwVsFloor, pass: judge(gwVsFloor >= 0.7) },
      gwP99: { id: 'p99', text: '≤ 1.5× floor p99', measured: gwP99VsFloor, pass: judge(gwP99VsFloor <= 1.5) },
      ops: { id: 'ops', text: `≥ 0.95× the ${s.specSizes[0]}-op req/s`, measured: opsRatio, pass: judge(opsRatio >= 0.95) },
      rss: { id: 'rss', text: '≤ 200 MiB', measured: rssAfter?.rss ?? NaN, pass: judge((rssAfter?.rss ?? Infinity) <= 200 * 2 ** 20) },
      heapPerKey: { id: 'heap/key', text: '≤ 1 KiB', measured: heapPerKey, pass: judge(heapPerKey <= 1024) },
      start: { id: 'start', text: '≤ 500 ms', measured: startMedian, pass: judge(startMedian <= 500) },
      apikeys: { id: 'apikeys', text: '0', measured: per10k(upstream.apikeysCalls, upstream.requests), pass: judge(upstream.apikeysCalls === 0) },
      metadata: { id: 'metadata', text: '0', measured: per10k(upstream.metadataCalls, upstream.requests), pass: judge(upstream.metadataCalls === 0) },
    };

    const rows: Row[] = [];
    for (const c of cases) {
      const sm = summary[c.id]!;
      let ratio = '';
      let target = '';
      let result = '';
      if (c.id === 'hpm') ratio = '1.00× (baseline)';
      else if (c.id === mainId) {
        ratio =
          `${fmtX(gwVsBase)} baseline req/s, ${fmtX(gwVsFloor)} floor req/s, ${fmtX(gwP99VsFloor)} floor p99` +
          `, ${ngx ? fmtX(gwVsNginx) : 'n/a'} nginx req/s (${fmtX(gwP99VsBase)} baseline p99)`;
        target = `${targets.gwRps!.text}, ${targets.gwFloor!.text}, ${targets.gwP99!.text}`;
        result = verdict([targets.gwRps!, targets.gwFloor!, targets.gwP99!]);
      } else if (c.id === VALIDATE_ID) {
        ratio = `${fmtX(pairedRatio(rps(c.id), rps(mainId)))} everything-on req/s, ${fmtX(pairedRatio(p99(c.id), p99(mainId)))} everything-on p99`;
      } else if (c.id.startsWith('gateway-')) {
        ratio = `${fmtX(pairedRatio(rps(c.id), rps(mainId)))} ${s.specSizes[0]}-op req/s`;
        if (c.id === largestId) {
          target = targets.ops!.text;
          result = verdict([targets.ops!]);
        }
      } else ratio = `${fmtX(pairedRatio(rps(c.id), rps('hpm')))} baseline req/s`;
      rows.push({ measurement: c.label, median: fmtRps(sm.rps), p99: fmtP99(sm.p99), ratio, target, result });
      if (c.id === 'undici' && nginxMissing !== undefined && !s.smoke) {
        rows.push({ measurement: '4. nginx, key map + static token, 1 worker', median: 'missing', p99: '', ratio: nginxMissing, target: '', result: '' });
      }
    }
    rows.push({
      measurement: `RSS after load, ${s.keys.toLocaleString('en-US')} distinct cached keys`,
      median: rssAfter ? fmtMiB(rssAfter.rss) : 'n/a',
      p99: '',
      ratio:
        `peak ${rssAfter ? fmtMiB(rssAfter.peak) : '?'}; ${rssAtStart ? fmtMiB(rssAtStart.rss) : '?'} at start; ` +
        `baseline ${rssAfterRounds.hpm ? fmtMiB(rssAfterRounds.hpm) : '?'}, floor ${rssAfterRounds.undici ? fmtMiB(rssAfterRounds.undici) : '?'}` +
        (ngx ? `, nginx ${rssAfterRounds.nginx ? fmtMiB(rssAfterRounds.nginx) : '?'}` : '') +
        ` (after the rounds); ${fmtRps(spread([rssLoad.rps]))} through the keys`,
      target: targets.rss!.text,
      result: verdict([targets.rss!]),
    });
    rows.push({
      measurement: `live heap per cached key, 0 → ${s.keys.toLocaleString('en-US')} keys`,
      median: Number.isFinite(heapPerKey) ? `${heapPerKey.toFixed(0)} B` : 'n/a',
      p99: '',
      ratio: `heap in use after a full GC (/metrics): ${heapBefore !== undefined ? fmtMiB(heapBefore) : '?'} → ${heapAfter !== undefined ? fmtMiB(heapAfter) : '?'}`,
      target: targets.heapPerKey!.text,
      result: verdict([targets.heapPerKey!]),
    });
    rows.push({
      measurement: `start → first 200, ${s.startSpecSize.toLocaleString('en-US')}-op spec`,
      median: `${fmtMs(startMedian)} ms` + (startMs.length > 1 ? ` (${fmtMs(Math.min(...startMs))}–${fmtMs(Math.max(...startMs))})` : ''),
      p99: '',
      ratio: `median of ${startMs.length} starts`,
      target: targets.start!.text,
      result: verdict([targets.start!]),
    });
    rows.push({
      measurement: 'API Keys calls per 10,000 warm requests',
      median: String(targets.apikeys!.measured),
      p99: '',
      ratio: `${roundsUpstream.apikeysCalls} during all measured rounds`,
      target: targets.apikeys!.text,
      result: verdict([targets.apikeys!]),
    });
    rows.push({
      measurement: 'metadata calls per 10,000 warm requests',
      median: String(targets.metadata!.measured),
      p99: '',
      ratio: `${roundsUpstream.metadataCalls} during all measured rounds`,
      target: targets.metadata!.text,
      result: verdict([targets.metadata!]),
    });

    const table = markdownTable(rows);
    const footer =
      `${s.rounds} round(s) × ${s.durationS} s per case, c=${s.connections}, cases alternated A B A B; ` +
      `ratios are medians of per-round paired ratios.` +
      (s.profile ? ` The ${mainId} case ran under --cpu-prof: its numbers include the profiler's overhead.` : '') +
      `\n` +
      `Machine: ${machineLine(machine)}.\nCommand: \`${command}\``;
    process.stdout.write(`\n${table}\n\n${footer}\n`);
    if (problems.length > 0) process.stdout.write(`\nPROBLEMS (the numbers above are not trustworthy):\n- ${problems.join('\n- ')}\n`);

    if (s.save) {
      const dir = path.join(REPO, 'bench/results');
      await mkdir(dir, { recursive: true });
      const result = {
        schema: 1,
        mode: s.smoke ? 'smoke' : 'full',
        command,
        machine,
        settings: s,
        finished: new Date().toISOString(),
        summary,
        targets,
        rss: {
          process: rssProcess,
          atStart: rssAtStart,
          afterLoad: rssAfter,
          keys: s.keys,
          loadRequests: rssLoad.requests,
          loadRps: rssLoad.rps,
          apikeysCallsDuringLoad: rssLoadLookups,
          afterRoundsByCase: rssAfterRounds,
        },
        heap: { beforeKeysBytes: heapBefore, afterKeysBytes: heapAfter, perKeyBytes: heapPerKey },
        nginx: nginxMissing === undefined && 'bin' in nginx ? { bin: nginx.bin, version: nginxVersion(nginx.bin) } : { missing: nginxMissing },
        startToFirst200Ms: { samples: startMs, median: startMedian, specOperations: s.startSpecSize },
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

/** An ID token from the metadata emulator, as the gateway gets one, for nginx's static Authorization header. */
async function mintIdToken(metadataHost: string, audience: string): Promise<string> {
  const url = `http://${metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}`;
  const res = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' } });
  if (!res.ok) throw new Error(`metadata emulator answered ${res.status} for an ID token`);
  return (await res.text()).trim();
}

function nginxVersion(bin: string): string {
  try {
    // nginx prints its version on stderr.
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    return /nginx\/(\S+)/.exec(r.stderr)?.[1] ?? '';
  } catch {
    return '';
  }
}
