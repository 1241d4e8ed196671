// The "workers" case (issue 24): the gateway with --workers 2 against --workers 1 in the same run, both
// everything on, in front of the one-worker nginx static backend, wrk driving load, A B A B over the
// rounds. In the same run, after the rounds (so it takes no CPU from a measured one), a third gateway
// (--workers 2, a quota of QUOTA_LIMIT per minute) takes three times that many calls, 50 at a time:
// the workers together must admit exactly QUOTA_LIMIT. Last, a fourth gateway (--workers 2) serves
// --keys distinct keys (each worker caches what it sees) and the RSS of each of its processes is read.
//
//   node bench/workers.ts [--rounds N] [--duration S] [--connections N] [--keys N] [--smoke] [--no-save]
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { startMetadataEmulator } from '../test/emulators/metadata-server.ts';
import { buildGateway, gatewayCommand, REPO, startBackend, type Upstreams } from './cases.ts';
import { clockTicks } from './cpu.ts';
import { drive, type DriveResult } from './drive.ts';
import { FILL_CONCURRENCY, MAIN_KEY, manyKey, RSS_LIMIT, rotatingKeys, rotatingKeysForWrk, withKey } from './keys.ts';
import { describeMachine, machineLine } from './machine.ts';
import { measuredLoad, type Measured } from './measure.ts';
import { getStatus, readRssByProcess, spawnServer, type Proc } from './procs.ts';
import { fmtCpu, fmtMiB, fmtP99, fmtRps, fmtX, markdownTable, spread, verdict, type Row, type Target } from './report.ts';
import { settingsFrom } from './settings.ts';
import { buildSpec } from './spec.ts';
import { median, pairedRatio } from './stats.ts';
import { runLoad } from './wrk.ts';

/** The quota check's limit per minute; it sends three times as many calls, 50 at a time. */
const QUOTA_LIMIT = 1_000;

const t00 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench workers ${((performance.now() - t00) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

/** The gateway as users run it (dist/cli.js through its shebang) with --workers N; ready once every worker listens. */
function startWorkers(name: string, spec: string, up: Upstreams, workers: number): Promise<Proc> {
  const cmd = gatewayCommand(spec, up, { admin: true });
  return spawnServer({
    name,
    command: path.join(REPO, 'dist/cli.js'),
    args: [...cmd.args, '--workers', String(workers)],
    env: cmd.env,
    // With workers each one logs its own line first; the primary's, with `workers`, says all of them listen.
    port: (l) => (l.message === 'endpoints-gateway listening' && typeof l.port === 'number' && (workers === 1 || l.workers === workers) ? l.port : undefined),
    readyPath: '/healthz',
    readyTimeoutMs: 60_000,
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const s = settingsFrom(argv);
  const command = ['node', 'bench/workers.ts', ...argv].join(' ');
  const startedAt = new Date();
  const machine = describeMachine(REPO, startedAt);
  log(`${command}\n${machineLine(machine)}`);
  buildGateway();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-workers-'));
  const apikeys = await startApiKeysEmulator();
  const metadata = await startMetadataEmulator({ projectId: 'bench-project' });
  apikeys.addKey({ keyString: MAIN_KEY, displayName: 'bench' });
  for (let i = 0; i < s.keys; i++) apikeys.addKey({ keyString: manyKey(i), displayName: 'bench' });
  const up: Upstreams = { apikeysUrl: apikeys.url, metadataHost: metadata.host };
  const procs: Proc[] = [];
  const problems: string[] = [];
  try {
    const backend = await startBackend(path.join(tmp, 'backend'));
    procs.push(backend.proc);
    const mainSpec = path.join(tmp, 'spec.yaml');
    await writeFile(mainSpec, stringify(buildSpec({ operations: 10, backendUrl: backend.proc.url }), { lineWidth: 0 }));
    const quotaSpec = path.join(tmp, 'quota.yaml');
    const q = buildSpec({ operations: 10, backendUrl: backend.proc.url }) as { 'x-google-management': { quota: { limits: { values: { STANDARD: number } }[] } } };
    q['x-google-management'].quota.limits[0]!.values.STANDARD = QUOTA_LIMIT;
    await writeFile(quotaSpec, stringify(q, { lineWidth: 0 }));

    log('starting --workers 1, --workers 2, the quota gateway and the RSS gateway (both --workers 2)');
    const [one, two, quota, rssGw] = await Promise.all([
      startWorkers('workers-1', mainSpec, up, 1),
      startWorkers('workers-2', mainSpec, up, 2),
      startWorkers('workers-quota', quotaSpec, up, 2),
      startWorkers('workers-rss', mainSpec, up, 2),
    ]);
    procs.push(one, two, quota, rssGw);
    const cases = [
      { id: 'workers-1', proc: one },
      { id: 'workers-2', proc: two },
    ];
    const p = withKey(MAIN_KEY);
    for (const c of cases) {
      const first = await getStatus(c.proc.url + p, 10_000);
      if (first !== 200) throw new Error(`${c.id}: first request answered ${first}:\n${c.proc.stderr()}`);
      if (s.warmupS >= 1) await runLoad({ url: c.proc.url, path: p, connections: s.connections, threads: s.threads, durationS: s.warmupS });
      else await drive(c.proc.url, () => p, Math.max(s.connections, Math.round(s.warmupS * 1_000)), s.connections);
    }

    const samples: (Measured & { case: string; round: number })[] = [];
    const quotaRuns: DriveResult[] = [];
    for (let round = 1; round <= s.rounds; round++) {
      for (const c of cases) {
        const r = await measuredLoad({ url: c.proc.url, path: p, connections: s.connections, threads: s.threads, durationS: s.durationS }, c.proc.pid, backend.proc.pid);
        if (r.non2xx > 0 || r.errors > 0) problems.push(`${c.id} round ${round}: ${r.non2xx} not 2xx, ${r.errors} errors`);
        samples.push({ case: c.id, round, ...r });
        log(`round ${round}/${s.rounds}: ${c.id.padEnd(10)} ${Math.round(r.rps).toString().padStart(6)} req/s, p99 ${r.p99.toFixed(1)} ms, ${r.cpuUsPerReq.toFixed(1)} µs CPU/req (${r.processes} process(es))`);
      }
    }

    log(`quota check: ${QUOTA_LIMIT * 3} calls, 50 at a time, limit ${QUOTA_LIMIT}/min across 2 workers`);
    quotaRuns.push(await drive(quota.url, () => p, QUOTA_LIMIT * 3, 50));

    // Each worker caches the keys it sees: every key twice over a few connections (the connections land
    // on either worker), then wrk rotating through all of them, then the RSS of every process.
    log(`RSS check: ${s.keys} distinct keys through --workers 2`);
    const fill = await drive(rssGw.url, rotatingKeys(s.keys), s.keys * 2, Math.min(s.connections, FILL_CONCURRENCY));
    if (fill.non2xx > 0 || fill.errors > 0) problems.push(`rss fill: ${fill.non2xx} not 2xx ${JSON.stringify(fill.statusCodes)}, ${fill.errors} errors`);
    const rssLoad = await measuredLoad({ url: rssGw.url, path: rotatingKeysForWrk(s.keys), connections: s.connections, threads: s.threads, durationS: s.durationS }, rssGw.pid, backend.proc.pid);
    if (rssLoad.non2xx > 0 || rssLoad.errors > 0) problems.push(`rss load: ${rssLoad.non2xx} not 2xx, ${rssLoad.errors} errors`);
    // Root first: the primary, then its workers.
    const rss = await readRssByProcess(rssGw.pid);
    if (rss.length !== 3) problems.push(`the RSS gateway has ${rss.length} process(es), not a primary and 2 workers`);
    const rssWorkers = rss.slice(1).map((x) => x.rss);
    const rssMaxWorker = rssWorkers.length > 0 ? Math.max(...rssWorkers) : NaN;
    const rssTree = rss.reduce((t, x) => t + x.rss, 0);
    log(`RSS after load: primary ${rss[0] ? fmtMiB(rss[0].rss) : '?'}, workers ${rssWorkers.map(fmtMiB).join(', ')}; whole gateway ${fmtMiB(rssTree)}`);

    const by = (id: string, f: (x: Measured) => number) => samples.filter((x) => x.case === id).map(f);
    const rpsRatio = pairedRatio(by('workers-2', (x) => x.rps), by('workers-1', (x) => x.rps));
    const cpuRatio = pairedRatio(by('workers-2', (x) => x.cpuUsPerReq), by('workers-1', (x) => x.cpuUsPerReq));
    const admitted = quotaRuns.reduce((n, r) => n + (r.statusCodes['200'] ?? 0), 0);
    const refused = quotaRuns.reduce((n, r) => n + (r.statusCodes['429'] ?? 0), 0);
    const other = quotaRuns.reduce((n, r) => n + r.requests - (r.statusCodes['200'] ?? 0) - (r.statusCodes['429'] ?? 0) + r.errors, 0);
    const overAdmission = admitted - QUOTA_LIMIT;
    if (other > 0) problems.push(`quota run: ${other} answers neither 200 nor 429, or failed`);
    const judge = (ok: boolean) => (s.smoke ? null : ok);
    const targets: Record<string, Target> = {
      rps: { id: 'workers req/s', text: '≥ 1.4× 1-worker req/s', measured: rpsRatio, pass: judge(rpsRatio >= 1.4) },
      cpu: { id: 'workers CPU', text: '≤ 1.1× 1-worker CPU/req', measured: cpuRatio, pass: judge(cpuRatio <= 1.1) },
      quota: { id: 'quota', text: '0 over-admission', measured: overAdmission, pass: judge(overAdmission <= 0 && admitted === QUOTA_LIMIT) },
      rss: { id: 'workers RSS', text: `≤ ${fmtMiB(RSS_LIMIT)} per worker`, measured: rssMaxWorker, pass: judge(rssMaxWorker <= RSS_LIMIT) },
    };
    const row = (id: string, label: string, extra: Partial<Row>): Row => {
      const sm = { rps: spread(by(id, (x) => x.rps)), p99: spread(by(id, (x) => x.p99)), cpu: spread(by(id, (x) => x.cpuUsPerReq)) };
      return { measurement: label, median: fmtRps(sm.rps), p99: fmtP99(sm.p99), cpu: fmtCpu(sm.cpu), ratio: '', target: '', result: '', ...extra };
    };
    const rows: Row[] = [
      row('workers-1', 'gateway, --workers 1 (10 ops, everything on)', {}),
      row('workers-2', 'gateway, --workers 2 (10 ops, everything on)', {
        ratio: `${fmtX(rpsRatio)} 1-worker req/s, ${fmtX(cpuRatio)} 1-worker CPU/req`,
        target: `${targets.rps!.text}, ${targets.cpu!.text}`,
        result: verdict([targets.rps!, targets.cpu!]),
      }),
      {
        measurement: `quota ${QUOTA_LIMIT}/min across 2 workers, ${QUOTA_LIMIT * 3} calls 50 at a time`,
        median: `${admitted} admitted`,
        p99: '',
        cpu: '',
        ratio: `${refused} refused (429); over-admission ${overAdmission}`,
        target: targets.quota!.text,
        result: verdict([targets.quota!]),
      },
      {
        measurement: `RSS after load, ${s.keys.toLocaleString('en-US')} distinct cached keys, --workers 2`,
        median: `${fmtMiB(rssMaxWorker)} (largest worker)`,
        p99: '',
        cpu: fmtCpu(spread([rssLoad.cpuUsPerReq])),
        ratio: `workers ${rssWorkers.map(fmtMiB).join(' and ')}, primary ${rss[0] ? fmtMiB(rss[0].rss) : '?'}; whole gateway ${fmtMiB(rssTree)}; ${fmtRps(spread([rssLoad.rps]))} through the keys`,
        target: targets.rss!.text,
        result: verdict([targets.rss!]),
      },
    ];
    const table = markdownTable(rows);
    const footer =
      `${s.rounds} round(s) × ${s.durationS} s per case, wrk -t${s.threads} -c${s.connections}, cases alternated A B A B; ratios are medians of per-round paired ratios. ` +
      `CPU µs/req: the gateway's whole process tree (primary and workers), ${clockTicks()} ticks/s; the backend is ${backend.kind}.\n` +
      `Machine: ${machineLine(machine)}.\nCommand: \`${command}\``;
    process.stdout.write(`\n${table}\n\n${footer}\n`);
    if (problems.length > 0) process.stdout.write(`\nPROBLEMS (the numbers above are not trustworthy):\n- ${problems.join('\n- ')}\n`);
    if (s.save) {
      const dir = path.join(REPO, 'bench/results');
      await mkdir(dir, { recursive: true });
      const medians = Object.fromEntries(cases.map((c) => [c.id, { rps: median(by(c.id, (x) => x.rps)), cpuUsPerReq: median(by(c.id, (x) => x.cpuUsPerReq)) }]));
      const json = { schema: 1, mode: s.smoke ? 'smoke' : 'full', command, machine, settings: s, finished: new Date().toISOString(), medians, targets, quota: { limit: QUOTA_LIMIT, admitted, refused, other }, rss: { keys: s.keys, byProcess: rss, tree: rssTree }, samples, problems, table };
      await writeFile(path.join(dir, s.smoke ? 'workers-smoke.json' : 'workers-latest.json'), JSON.stringify(json, null, 2) + '\n');
    }
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(procs.map((x) => x.stop(15_000)));
    await apikeys.close();
    await metadata.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench workers] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
