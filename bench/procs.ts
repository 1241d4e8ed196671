// Child processes for the benchmark: every server under test runs in its own process (so its RSS and
// CPU are its own, and it never shares an event loop with the load generator). Servers bind port 0
// and say which port they got (a JSON line on stdout), or listen on a socket the benchmark opened
// and handed over: no port is ever picked here and hoped to be still free when the server binds it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { request } from 'node:http';
import { treePids } from './cpu.ts';
import type { HeldSocket } from './inherit-socket.ts';

export interface Proc {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The root of the server's process tree, whose CPU is measured. */
  readonly pid: number;
  /** The last few KiB of the child's stderr, for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

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
  /** Arguments after the command (for `node`: the script first). */
  args: string[];
  env?: Record<string, string>;
  /** Extra node flags before the script (e.g. --cpu-prof); only when `command` is node. */
  nodeFlags?: string[];
  /**
   * Where the port comes from: a JSON line the server prints on stdout once it listens (this
   * function picks it out, undefined for other lines), or a listening socket the benchmark holds
   * open for it, handed over as the child's fd 3 (this process's copy is closed once it is spawned).
   */
  port: ((line: Record<string, unknown>) => number | undefined) | HeldSocket;
  /** Path polled until it answers 200 (default '/'). */
  readyPath?: string;
  readyTimeoutMs?: number;
}

/**
 * Spawns `node [flags] args...` (or `command args...`), learns its port, waits until readyPath answers 200.
 * stdout is read to its end: the gateway writes its access log there, and a pipe nobody reads would stall it.
 */
export async function spawnServer(o: SpawnOptions): Promise<Proc> {
  const inherit = typeof o.port === 'function' ? undefined : o.port;
  const child = spawn(o.command ?? process.execPath, o.command === undefined ? [...(o.nodeFlags ?? []), ...o.args] : o.args, {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe', ...(inherit ? [inherit.fd] : [])],
  });
  // The child holds its own copy now: from here on only it accepts connections on the port.
  inherit?.close();
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    err = (err + c).slice(-8_192);
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve(code);
    });
    // A program that could not be started at all emits 'error' and no 'exit'.
    child.on('error', (e) => {
      err += `\n${e.message}`;
      exitCode ??= -1;
      resolve(exitCode);
      child.emit('exit', -1, null);
    });
  });
  const stop = async (graceMs = 5_000) => {
    if (exitCode !== undefined) return exitCode;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let port: number;
  try {
    port = inherit ? inherit.port : await portFromStdout(child, o.port as (l: Record<string, unknown>) => number | undefined, timeoutMs, () => err);
  } catch (e) {
    await stop(1_000);
    throw new Error(`${o.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (inherit) child.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  const proc: Proc = { name: o.name, url, port, child, pid: child.pid!, stderr: () => err, stop };
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${o.name} exited with code ${exitCode} before it was ready:\n${err}`);
    if ((await getStatus(url + (o.readyPath ?? '/'), 1_000)) === 200) return proc;
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`${o.name} was not ready within ${timeoutMs} ms:\n${err}`);
    }
    await sleep(20);
  }
}

/** The port from the first stdout line `pick` accepts; every later line is read and dropped. */
function portFromStdout(child: ChildProcess, pick: (l: Record<string, unknown>) => number | undefined, timeoutMs: number, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let found = false;
    const out = child.stdout!;
    out.setEncoding('utf8');
    const timer = setTimeout(() => done(new Error(`no listening line on stdout within ${timeoutMs} ms:\n${stderr()}`)), timeoutMs);
    const done = (e: Error | undefined, port?: number) => {
      if (found) return;
      found = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      // From here on, stdout is only drained.
      buf = '';
      if (e) reject(e);
      else resolve(port!);
    };
    const onExit = (code: number | null) => setImmediate(() => done(new Error(`exited with code ${code} before it said its port:\n${stderr()}`)));
    child.on('exit', onExit);
    out.on('data', (chunk: string) => {
      if (found) return;
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let port: number | undefined;
        try {
          port = pick(JSON.parse(line) as Record<string, unknown>);
        } catch {
          continue;
        }
        if (port !== undefined) return done(undefined, port);
      }
    });
  });
}

/** The JSON line the benchmark's own servers print once they listen (`bench/servers/*.ts`). */
export const benchServerPort = (l: Record<string, unknown>) => (l.message === 'listening' && typeof l.port === 'number' ? l.port : undefined);

/**
 * The LISTEN sockets of this process's network namespace (its children's too), inode → port, from
 * /proc/self/net/tcp and tcp6. Costly (the kernel walks its whole socket hash table: about 10 ms of
 * CPU here), so read only when a server has a socket not seen before.
 */
function listeningSockets(): Map<string, number> {
  const out = new Map<string, number>();
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/self/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = row.trim().split(/\s+/);
      if (f[3] === '0A' && f[9] !== undefined) out.set(f[9], parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return out;
}

/** The inodes of the sockets `pid` holds (its fds that link to `socket:[inode]`): cheap, a readdir and a readlink per fd. */
function socketInodes(pid: number): string[] {
  const out: string[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.push(m[1]!);
      } catch {
        // Closed since the readdir.
      }
    }
  } catch {
    // The process is gone.
  }
  return out;
}

/**
 * A poll for the port a server on port 0 listens on, for a server that says its port late (or not
 * at all): it watches the server's own sockets and reads the LISTEN table only when one it has not
 * ruled out is there. A socket that is not listening (a client connection, a unix socket) is ruled
 * out after a few reads, so polling every few ms stays cheap. Returns undefined until it listens.
 */
export function listeningPortPoll(pid: number): () => number | undefined {
  const misses = new Map<string, number>();
  return () => {
    const candidates = socketInodes(pid).filter((inode) => (misses.get(inode) ?? 0) < 3);
    if (candidates.length === 0) return undefined;
    const listening = listeningSockets();
    for (const inode of candidates) {
      const port = listening.get(inode);
      if (port !== undefined) return port;
      misses.set(inode, (misses.get(inode) ?? 0) + 1);
    }
    return undefined;
  };
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

/** RSS summed over a server's process tree (nginx's master and worker, a gateway's workers): pages shared between them count once per process. */
export async function readTreeRss(root: number): Promise<number | undefined> {
  const pids = await treePids(root);
  const rss = await Promise.all(pids.map((p) => readRss(p)));
  return pids.length === 0 ? undefined : rss.reduce((t, r) => t + (r?.rss ?? 0), 0);
}

/** RSS of each process of a server's tree (a gateway's primary and each worker), root first. */
export async function readRssByProcess(root: number): Promise<{ pid: number; rss: number; peak: number }[]> {
  const pids = await treePids(root);
  const out: { pid: number; rss: number; peak: number }[] = [];
  for (const pid of pids) {
    const r = await readRss(pid);
    if (r) out.push({ pid, ...r });
  }
  return out;
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
