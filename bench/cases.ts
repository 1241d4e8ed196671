// The servers under test, each started in its own process on loopback.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { freePort, getStatus, lostPort, spawnServer, type Proc } from './procs.ts';

export const REPO = path.resolve(import.meta.dirname, '..');
/** The compiled CLI, as production runs it (the `bin`, and the Docker image's entrypoint); run.ts builds it first. */
export const CLI = path.join(REPO, 'dist/cli.js');

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

export function startBackend(): Promise<Proc> {
  return spawnServer({ name: 'backend', args: [path.join(SERVERS, 'backend.ts'), '{PORT}'] });
}

export function startExpressHpm(target: string): Promise<Proc> {
  return spawnServer({ name: 'express-hpm', args: [path.join(SERVERS, 'express-hpm.ts'), '{PORT}', target] });
}

export function startUndiciProxy(target: string): Promise<Proc> {
  return spawnServer({ name: 'undici-proxy', args: [path.join(SERVERS, 'undici-proxy.ts'), '{PORT}', target] });
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

/** Arguments (after the executable CLI) and environment for the gateway as users run it, everything on; `{PORT}` is filled in by spawnServer. */
export async function gatewayCommand(spec: string, up: Upstreams): Promise<{ args: string[]; env: Record<string, string>; adminPort?: number }> {
  const args = [
    'serve',
    '--spec', spec,
    '--port', '{PORT}',
    '--host', '127.0.0.1',
    '--backend-auth', 'google',
    '--keys', 'google',
    '--apikeys-endpoint', up.apikeysUrl,
    '--log-level', 'info',
  ];
  let adminPort: number | undefined;
  if (serveSupports('--admin-port')) {
    adminPort = await freePort();
    args.push('--admin-port', String(adminPort));
  }
  if (serveSupports('--access-log')) args.push('--access-log', 'on');
  const env = {
    // The shebang's `env node` finds node on PATH: make it this one, the Node the benchmark runs on.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    GCE_METADATA_HOST: up.metadataHost,
    METADATA_SERVER_DETECTION: 'assume-present',
    GOOGLE_CLOUD_PROJECT: 'bench-project',
  };
  return adminPort === undefined ? { args, env } : { args, env, adminPort };
}

export interface GatewayProc extends Proc {
  adminUrl?: string;
}

/** The gateway run as `dist/cli.js serve ...` (its shebang starts node); `nodeOptions` go in through NODE_OPTIONS, `extraArgs` after the usual flags. */
export async function startGateway(name: string, spec: string, up: Upstreams, nodeOptions: readonly string[] = [], extraArgs: readonly string[] = []): Promise<GatewayProc> {
  for (let attempt = 1; ; attempt++) {
    // The admin port is picked in gatewayCommand: a start that lost it picks both again.
    const cmd = await gatewayCommand(spec, up);
    const env = withNodeOptions(cmd.env, nodeOptions);
    try {
      const p = await spawnServer({ name, command: CLI, args: [...cmd.args, ...extraArgs], env, readyPath: '/healthz', readyTimeoutMs: 60_000 });
      return cmd.adminPort === undefined ? p : Object.assign(p, { adminUrl: `http://127.0.0.1:${cmd.adminPort}` });
    } catch (err) {
      if (attempt >= 3 || !lostPort(err)) throw err;
    }
  }
}

/**
 * Milliseconds from spawning a gateway to its first 200 on `path` (a key-protected route with a valid
 * key): the cold key lookup and ID-token fetch are part of it, as they are for a real first caller.
 */
export async function timeToFirst200(spec: string, up: Upstreams, path: string, timeoutMs = 30_000): Promise<number> {
  const port = await freePort();
  const cmd = await gatewayCommand(spec, up);
  const args = cmd.args.map((a) => a.replaceAll('{PORT}', String(port)));
  const url = `http://127.0.0.1:${port}${path}`;
  const t0 = performance.now();
  const child = spawn(CLI, args, { env: { ...process.env, ...cmd.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err = (err + c).slice(-8_192)));
  let exited = false;
  const gone = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  try {
    for (;;) {
      // A refused connection fails in well under a millisecond; a short pause keeps this loop
      // from taking the CPU the starting gateway needs (there are only two cores).
      const status = await getStatus(url, 5_000);
      if (status === 200) return performance.now() - t0;
      if (exited) throw new Error(`gateway exited before its first 200:\n${err}`);
      if (performance.now() - t0 > timeoutMs) throw new Error(`no 200 from ${path} within ${timeoutMs} ms (last status ${status}):\n${err}`);
      await new Promise((r) => setTimeout(r, 2));
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
