// Child processes for the benchmark: every server under test runs in its own process (so its RSS is
// its own, and it never shares an event loop with autocannon), started on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { request } from 'node:http';
import { freePort } from '../test/helpers/child-gateway.ts';

export interface Proc {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The last few KiB of the child's stderr, for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** A port that was free a moment ago: the tests' helper. */
export { freePort };

/** One GET on a fresh connection; resolves with the status, or 0 when the connection failed. */
export function getStatus(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** GET as text (small admin/metrics answers). */
export function getText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface SpawnOptions {
  name: string;
  /** The program to run: `node` (this one) by default; an executable script runs through its shebang. */
  command?: string;
  /** Arguments after the command (for `node`: the script first); `{PORT}` is replaced by the chosen port. */
  args: string[];
  env?: Record<string, string>;
  /** Extra node flags before the script (e.g. --cpu-prof); only when `command` is node. */
  nodeFlags?: string[];
  /** The port the server is told to use (default: a free one, put where `{PORT}` is). */
  port?: number;
  /** Path polled until it answers 200 (default '/'). */
  readyPath?: string;
  readyTimeoutMs?: number;
}

/** A start that lost its port to another process between our pick and its bind. */
export function lostPort(err: unknown): boolean {
  return /already in use|EADDRINUSE/.test(String((err as Error)?.message ?? err));
}

/**
 * Spawns `node [flags] args...` (or `command args...`) with stdout discarded (access logs must never block on a pipe), waits until readyPath answers 200.
 * A port picked here can be taken by a server started alongside before this one binds it: then it starts again on a new one.
 */
export async function spawnServer(o: SpawnOptions): Promise<Proc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnServerOnce(o);
    } catch (err) {
      if (o.port !== undefined || attempt >= 3 || !lostPort(err)) throw err;
    }
  }
}

async function spawnServerOnce(o: SpawnOptions): Promise<Proc> {
  const port = o.port ?? (await freePort());
  const args = o.args.map((a) => a.replaceAll('{PORT}', String(port)));
  const child = spawn(o.command ?? process.execPath, o.command === undefined ? [...(o.nodeFlags ?? []), ...args] : args, {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    err = (err + c).slice(-8_192);
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc: Proc = {
    name: o.name,
    url,
    port,
    child,
    stderr: () => err,
    async stop(graceMs = 5_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${o.name} exited with code ${exitCode} before it was ready:\n${err}`);
    if ((await getStatus(url + (o.readyPath ?? '/'), 1_000)) === 200) return proc;
    if (Date.now() > deadline) {
      await proc.stop(1_000);
      throw new Error(`${o.name} was not ready within ${o.readyTimeoutMs ?? 30_000} ms:\n${err}`);
    }
    await sleep(20);
  }
}

/** Resident set size and its peak in bytes, from /proc/<pid>/status (Linux). */
export async function readRss(pid: number): Promise<{ rss: number; peak: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => {
      const line = status.split('\n').find((l) => l.startsWith(field + ':'));
      return line === undefined ? NaN : Number(line.slice(field.length + 1).trim().split(/\s+/)[0]) * 1024;
    };
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/** What runs as `pid`: its executable and command line, so the RSS read is known to be the gateway's own node process, not a wrapper. */
export async function processInfo(pid: number): Promise<{ exe: string; argv: string[] } | undefined> {
  try {
    const [exe, cmdline] = await Promise.all([readlink(`/proc/${pid}/exe`), readFile(`/proc/${pid}/cmdline`, 'utf8')]);
    return { exe, argv: cmdline.split('\0').filter((a) => a !== '') };
  } catch {
    return undefined;
  }
}
