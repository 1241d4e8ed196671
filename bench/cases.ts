// The servers under test, one table: each case is a server started in its own process on loopback
// (its whole process tree is what the CPU figures measure), and the cases it is compared with in the
// same run. A new case is a few lines: usually `gatewayCase({ id, label, args | env | nodeOptions })`.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { backendRole, findNginx, nginxVersion, proxyRole, startNginx } from './nginx.ts';
import { cpuSnapshot } from './cpu.ts';
import { CLI, REPO } from './paths.ts';
import { benchServerPort, getStatus, listeningPortPoll, spawnServer, type Proc } from './procs.ts';

export { CLI, REPO };

/**
 * Builds dist/ as `npm run build` does and makes the CLI executable, as npm does for a `bin`: the
 * gateway is then started through its own shebang, with the V8 limits production starts it with.
 */
export function buildGateway(): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' });
  chmodSync(CLI, 0o755);
}

/**
 * The environment that adds node options to the gateway's own: appended to NODE_OPTIONS, after the
 * defaults its shebang puts first, so they win over those defaults as an operator's would.
 */
export function withNodeOptions(env: Record<string, string>, nodeOptions: readonly string[]): Record<string, string> {
  if (nodeOptions.length === 0) return env;
  return { ...env, NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...nodeOptions].join(' ').trim() };
}
const SERVERS = path.join(REPO, 'bench/servers');

export interface Backend {
  proc: Proc;
  /** What serves the body, for the table ("nginx 1.22.1 static, 1 worker"). */
  kind: string;
  /** nginx's binary and version, or why there is none (then the backend is node:http). */
  nginx: { bin: string; version: string } | { missing: string };
}

/**
 * The backend every proxy forwards to: a one-worker nginx serving the body statically, so that the
 * proxies measured in front of it get as much of the two cores as possible; node:http
 * (bench/servers/backend.ts) when nginx cannot be had.
 */
export async function startBackend(dir: string): Promise<Backend> {
  const found = findNginx();
  let missing = 'missing' in found ? found.missing : undefined;
  if ('bin' in found) {
    const version = nginxVersion(found.bin);
    try {
      const proc = await startNginx('backend', found.bin, dir, backendRole());
      return { proc, kind: `nginx ${version} static, 1 worker`, nginx: { bin: found.bin, version } };
    } catch (err) {
      missing = `nginx would not start: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const proc = await spawnServer({ name: 'backend', args: [path.join(SERVERS, 'backend.ts')], port: benchServerPort });
  return { proc, kind: 'node:http', nginx: { missing: missing ?? 'nginx is not installed' } };
}

export interface Upstreams {
  /** API Keys emulator base URL. */
  apikeysUrl: string;
  /** Metadata emulator host:port. */
  metadataHost: string;
}

/** The `serve` flags this checkout's CLI lists (so the benchmark runs against older and newer gateways alike). */
let serveHelp: string | undefined;
export function serveSupports(flag: string): boolean {
  serveHelp ??= execFileSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8', cwd: REPO });
  return serveHelp.includes(flag);
}

/** Arguments (after the executable CLI) and environment for the gateway as users run it, everything on, on port 0. */
export function gatewayCommand(spec: string, up: Upstreams, o: { admin: boolean }): { args: string[]; env: Record<string, string> } {
  const args = [
    'serve',
    '--spec', spec,
    '--port', '0',
    '--host', '127.0.0.1',
    '--backend-auth', 'google',
    '--keys', 'google',
    '--apikeys-endpoint', up.apikeysUrl,
    '--log-level', 'info',
  ];
  if (o.admin && serveSupports('--admin-port')) args.push('--admin-port', '0');
  if (serveSupports('--access-log')) args.push('--access-log', 'on');
  const env = {
    // The shebang's `env node` finds node on PATH: make it this one, the Node the benchmark runs on.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    GCE_METADATA_HOST: up.metadataHost,
    METADATA_SERVER_DETECTION: 'assume-present',
    GOOGLE_CLOUD_PROJECT: 'bench-project',
  };
  return { args, env };
}

export interface GatewayProc extends Proc {
  adminUrl?: string;
}

export interface GatewayVariant {
  /** Appended to NODE_OPTIONS (they win over the shebang's defaults). */
  nodeOptions?: readonly string[];
  /** After the usual `serve` flags (a later flag wins over an earlier one). */
  args?: readonly string[];
  /** Added to the environment (ENDPOINTS_* settings, feature switches). */
  env?: Readonly<Record<string, string>>;
  /** Another build's dist/cli.js, for before/after comparisons (default: this checkout's). */
  cli?: string;
}

/**
 * The gateway run as `dist/cli.js serve ...` (its shebang starts node) on port 0; its main and admin
 * ports come from its own 'endpoints-gateway listening' line.
 */
export async function startGateway(name: string, spec: string, up: Upstreams, v: GatewayVariant = {}): Promise<GatewayProc> {
  const cmd = gatewayCommand(spec, up, { admin: true });
  let adminPort: number | undefined;
  const p = await spawnServer({
    name,
    command: v.cli ?? CLI,
    args: [...cmd.args, ...(v.args ?? [])],
    env: { ...withNodeOptions(cmd.env, v.nodeOptions ?? []), ...v.env },
    port: (l) => {
      if (l.message !== 'endpoints-gateway listening' || typeof l.port !== 'number') return undefined;
      if (typeof l.adminPort === 'number') adminPort = l.adminPort;
      return l.port;
    },
    readyPath: '/healthz',
    readyTimeoutMs: 60_000,
  });
  return adminPort === undefined ? p : Object.assign(p, { adminUrl: `http://127.0.0.1:${adminPort}` });
}

/** A gateway started by node from source with a bench harness in front of the CLI, with the shebang's V8 limits. */
function startGatewayWith(name: string, harness: string[], spec: string, up: Upstreams): Promise<GatewayProc> {
  const cmd = gatewayCommand(spec, up, { admin: true });
  return spawnServer({
    name,
    command: process.execPath,
    args: ['--max-semi-space-size=8', '--max-old-space-size=128', ...harness, ...cmd.args],
    env: cmd.env,
    port: (l) => (l.message === 'endpoints-gateway listening' && typeof l.port === 'number' ? l.port : undefined),
    readyPath: '/healthz',
    readyTimeoutMs: 60_000,
  });
}

export interface StartOptions {
  /** Added to the gateway's environment (ENDPOINTS_CACHE_DIR, NODE_COMPILE_CACHE: where the caches are). */
  env?: Readonly<Record<string, string>>;
  /** How the gateway is started: through the bin's shebang (default) or as `node dist/cli.js`. */
  launch?: 'bin' | 'node';
  /** Another build's dist/cli.js, for before/after comparisons (default: this checkout's). */
  cli?: string;
  timeoutMs?: number;
}

/**
 * Milliseconds from spawning a gateway to its first 200 on `path` (a key-protected route with a valid
 * key): the cold key lookup and ID-token fetch are part of it, as they are for a real first caller.
 * The gateway binds port 0 and has no admin listener, so the one listening socket it opens (read from
 * /proc, which sees it at once, where the log line can wait for the logger's next flush) is its port.
 */
export async function timeToFirst200(spec: string, up: Upstreams, path: string, o: StartOptions = {}): Promise<number> {
  return (await startToFirst200(spec, up, path, o)).ms;
}

/** As timeToFirst200, with the CPU the gateway's process tree used up to that 200 (stays comparable on a busy machine). */
export async function startToFirst200(spec: string, up: Upstreams, path: string, o: StartOptions = {}): Promise<{ ms: number; cpuMs: number }> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const cmd = gatewayCommand(spec, up, { admin: false });
  const env = { ...process.env, ...cmd.env, ...o.env };
  // `bin` runs dist/cli.js through its shebang (npm's bin); `node` runs `node dist/cli.js` as the README shows it.
  const cli = o.cli ?? CLI;
  const [file, args] = o.launch === 'node' ? [process.execPath, [cli, ...cmd.args]] : [cli, cmd.args];
  const t0 = performance.now();
  const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err = (err + c).slice(-8_192)));
  let exited = false;
  const gone = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  // A short pause between polls keeps this loop from taking the CPU the starting gateway needs (two cores).
  const pause = () => new Promise((r) => setTimeout(r, 2));
  const late = (what: string) => {
    if (exited) return new Error(`gateway exited before ${what}:\n${err}`);
    if (performance.now() - t0 > timeoutMs) return new Error(`no ${what} within ${timeoutMs} ms:\n${err}`);
    return undefined;
  };
  try {
    const pollPort = listeningPortPoll(child.pid!);
    let port: number | undefined;
    while (port === undefined) {
      port = pollPort();
      if (port === undefined) {
        const e = late('listening socket');
        if (e) throw e;
        await pause();
      }
    }
    const url = `http://127.0.0.1:${port}${path}`;
    for (;;) {
      const status = await getStatus(url, 5_000);
      if (status === 200) {
        const ms = performance.now() - t0;
        const cpu = (await cpuSnapshot([child.pid!])).get(child.pid!);
        return { ms, cpuMs: (cpu?.seconds ?? NaN) * 1_000 };
      }
      const e = late(`200 from ${path} (last status ${status})`);
      if (e) throw e;
      await pause();
    }
  } finally {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
    }
  }
}

/** What every case's server can use: the shared backend, the emulators, the specs. */
export interface CaseContext {
  /** The static backend every proxy forwards to. */
  backend: Proc;
  up: Upstreams;
  /** The spec with this many operations (written before any case starts). */
  specOf(operations: number): string;
  /** Per-case scratch folder. */
  dirOf(caseId: string): string;
  /** nginx, when installed; the ID token its proxy sends (minted once by the metadata emulator). */
  nginx?: { bin: string; version: string; bearer: string };
  mainKey: string;
}

/** One figure of one case compared with another case's in the same run (a paired ratio per round). */
export interface Comparison {
  to: string;
  figures: readonly ('rps' | 'p99' | 'cpu')[];
}

export interface CaseDef {
  id: string;
  /** The table's row label. */
  label: string;
  /** How other rows name this case in their ratios ("floor", "baseline"). */
  short?: string;
  /** Starts the server; undefined when it cannot run on this machine (the row says so, the smoke run skips it). */
  start(ctx: CaseContext): Promise<Proc> | undefined;
  compare?: readonly Comparison[];
}

/** A gateway case: the gateway as users run it on the `operations`-op spec, plus the variant's flags or environment. */
export function gatewayCase(o: { id: string; label: string; short?: string; operations: number; variant?: GatewayVariant; compare?: readonly Comparison[] }): CaseDef {
  return {
    id: o.id,
    label: o.label,
    ...(o.short !== undefined ? { short: o.short } : {}),
    ...(o.compare ? { compare: o.compare } : {}),
    start: (ctx) => startGateway(o.id, ctx.specOf(o.operations), ctx.up, o.variant),
  };
}

export const FLOOR = 'undici';
export const BASELINE = 'hpm';
export const NGINX = 'nginx';
export const VALIDATE = 'gateway-validate-report';
export const EXPRESS_FRONT = 'gateway-express-front';
export const gatewayId = (operations: number) => `gateway-${operations}`;

/**
 * The side-by-side cases, in table order. `specSizes[0]` is the main gateway case ("everything on");
 * the last case is the largest spec (the routing-cost row). `profile` runs the main case under --cpu-prof.
 */
export function sideBySideCases(o: { specSizes: readonly number[]; validate: boolean; profileDir?: string }): CaseDef[] {
  const main = gatewayId(o.specSizes[0]!);
  const ops = (n: number) => n.toLocaleString('en-US');
  const vsFloor: Comparison = { to: FLOOR, figures: ['rps', 'cpu'] };
  return [
    { id: 'direct', label: '1. backend called directly', start: (ctx) => Promise.resolve(ctx.backend), compare: [{ to: BASELINE, figures: ['rps'] }] },
    {
      id: BASELINE,
      label: '2. express 5 + hpm 4, bare (baseline)',
      short: 'baseline',
      start: (ctx) => spawnServer({ name: 'express-hpm', args: [path.join(SERVERS, 'express-hpm.ts'), ctx.backend.url], port: benchServerPort }),
      compare: [vsFloor],
    },
    {
      id: FLOOR,
      label: '3. node:http + undici, bare (floor)',
      short: 'floor',
      start: (ctx) => spawnServer({ name: 'undici-proxy', args: [path.join(SERVERS, 'undici-proxy.ts'), ctx.backend.url], port: benchServerPort }),
      compare: [{ to: BASELINE, figures: ['rps', 'cpu'] }],
    },
    {
      id: NGINX,
      label: '4. nginx, key map + static token, 1 worker',
      short: 'nginx',
      start: (ctx) =>
        ctx.nginx && startNginx('nginx', ctx.nginx.bin, ctx.dirOf(NGINX), proxyRole({ key: ctx.mainKey, bearer: ctx.nginx.bearer, backendUrl: ctx.backend.url })),
      compare: [vsFloor],
    },
    gatewayCase({
      id: main,
      label: `5. gateway, everything on (${ops(o.specSizes[0]!)} ops)`,
      short: 'everything-on',
      operations: o.specSizes[0]!,
      ...(o.profileDir !== undefined ? { variant: { nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] } } : {}),
      compare: [
        { to: BASELINE, figures: ['rps'] },
        { to: FLOOR, figures: ['rps', 'p99', 'cpu'] },
        { to: NGINX, figures: ['rps', 'cpu'] },
      ],
    }),
    // Issue 21's measurement: the same gateway with express in front of its API path (compiled from source, as the main case's dist/).
    {
      id: EXPRESS_FRONT,
      label: `gateway with express in front (${ops(o.specSizes[0]!)} ops)`,
      start: (ctx) => startGatewayWith(EXPRESS_FRONT, [path.join(SERVERS, 'gateway-express-front.ts')], ctx.specOf(o.specSizes[0]!), ctx.up),
      compare: [{ to: main, figures: ['rps', 'cpu'] }],
    },
    // Right after the everything-on case it is compared with.
    ...(o.validate
      ? [gatewayCase({ id: VALIDATE, label: `gateway, --validate report (${ops(o.specSizes[0]!)} ops)`, operations: o.specSizes[0]!, variant: { args: ['--validate', 'report'] }, compare: [{ to: main, figures: ['rps', 'p99', 'cpu'] }] })]
      : []),
    ...o.specSizes.slice(1).map((n) => gatewayCase({ id: gatewayId(n), label: `gateway, ${ops(n)} ops`, operations: n, compare: [{ to: main, figures: ['rps', 'cpu'] }] })),
  ];
}

export const COMPRESSION_OFF = 'gateway-json10k';
export const COMPRESSION_ON = 'gateway-json10k-compressed';
export const COMPRESSION_BASE = 'gateway-json10k-base';

/**
 * Issue 26's measurement (bench/compression.ts runs only these): the gateway in front of a ~10 KB
 * JSON backend, with --enable-response-compression off and on, every request sending a browser's
 * `Accept-Encoding: gzip, deflate, br`. No key store and no ID tokens: what differs is compression.
 * `baseCli`: the same case with another build (a commit before compression existed), so that "off
 * costs nothing" is a measured figure.
 */
export function compressionCases(o: { spec: string; baseCli?: string | undefined }): CaseDef[] {
  const start = (id: string, extra: readonly string[], cli = CLI) =>
    spawnServer({
      name: id,
      command: cli,
      args: ['serve', '--spec', o.spec, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none', '--access-log', 'on', ...extra],
      port: (l) => (l.message === 'endpoints-gateway listening' && typeof l.port === 'number' ? l.port : undefined),
      readyPath: '/healthz',
      readyTimeoutMs: 60_000,
    });
  return [
    { id: COMPRESSION_OFF, label: 'gateway, 10 KB JSON, compression off', short: 'off', start: () => start(COMPRESSION_OFF, []) },
    { id: COMPRESSION_ON, label: 'gateway, 10 KB JSON, --enable-response-compression', start: () => start(COMPRESSION_ON, ['--enable-response-compression']), compare: [{ to: COMPRESSION_OFF, figures: ['rps', 'p99', 'cpu'] }] },
    ...(o.baseCli !== undefined
      ? [{ id: COMPRESSION_BASE, label: `gateway before compression (${o.baseCli})`, start: () => start(COMPRESSION_BASE, [], o.baseCli), compare: [{ to: COMPRESSION_OFF, figures: ['rps', 'cpu'] }] } satisfies CaseDef]
      : []),
  ];
}

export const TRACING_OFF = 'gateway-tracing-off';
export const TRACING_DEFAULT = 'gateway-tracing-0.1pct';
export const TRACING_ALL = 'gateway-tracing-100pct';

/**
 * Issue 25's figure: the everything-on gateway with tracing off (--disable-tracing), at ESPv2's default
 * rate (0.1 %) and at 100 %, exporting OTLP/HTTP protobuf (the default encoding) to `collector`, a sink
 * in the benchmark's own process that answers every export (its CPU is not the gateway's). Run by
 * bench/tracing.ts, on its own.
 */
export function tracingCases(o: { operations: number; collector: string; profileDir?: string }): CaseDef[] {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: o.collector, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
  // --cpu-prof on the off and 100 % cases: their profiles side by side say where tracing's CPU goes.
  const nodeOptions = o.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`];
  return [
    gatewayCase({ id: TRACING_OFF, label: 'gateway, tracing off', short: 'tracing off', operations: o.operations, variant: { args: ['--disable-tracing'], nodeOptions: nodeOptions.length ? [...nodeOptions, '--cpu-prof-name=off.cpuprofile'] : [] } }),
    gatewayCase({ id: TRACING_DEFAULT, label: 'gateway, tracing at 0.1 % (default rate)', operations: o.operations, variant: { env }, compare: [{ to: TRACING_OFF, figures: ['rps', 'p99', 'cpu'] }] }),
    gatewayCase({
      id: TRACING_ALL,
      label: 'gateway, tracing at 100 %',
      operations: o.operations,
      variant: { env, args: ['--tracing-sample-rate', '1'], nodeOptions: nodeOptions.length ? [...nodeOptions, '--cpu-prof-name=all.cpuprofile'] : [] },
      compare: [{ to: TRACING_OFF, figures: ['rps', 'p99', 'cpu'] }],
    }),
  ];
}
