// CPU time of a server's whole process tree (the process and every descendant), from /proc: the
// figure that stays comparable on a shared, noisy machine, where req/s depends on who else runs.
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
let ticksPerSecond: number | undefined;
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf CLK_TCK printed ${n}`);
    ticksPerSecond = n;
  }
  return ticksPerSecond;
}

interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime: the children's part holds what exited (and was reaped) children used. */
  ticks: number;
}

/**
 * A /proc stat file (a process's or a thread's): its command name and its numbered fields (man 5 proc:
 * ppid is 4, utime 14, stime 15, cutime 16, cstime 17); undefined when it is gone.
 */
async function readStatFile(file: string): Promise<{ comm: string; num: (field: number) => number } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // The fields after the name start at field 3.
  return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), num: (field) => Number(f[field - 3]) };
}

/** Fields of /proc/<pid>/stat; undefined when the process is gone. */
async function readStat(pid: number): Promise<Stat | undefined> {
  const s = await readStatFile(`/proc/${pid}/stat`);
  return s && { ppid: s.num(4), ticks: s.num(14) + s.num(15) + s.num(16) + s.num(17) };
}

/** Every process's stat, from one pass over /proc. */
async function allStats(): Promise<Map<number, Stat>> {
  const all = new Map<number, Stat>();
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  await Promise.all(
    pids.map(async (pid) => {
      const s = await readStat(pid);
      if (s) all.set(pid, s);
    }),
  );
  return all;
}

/** `root` and all its descendants (children of children included), found through every process's parent. */
function treeOf(root: number, all: ReadonlyMap<number, Stat>): Map<number, Stat> {
  const rootStat = all.get(root);
  if (!rootStat) return new Map();
  const tree = new Map<number, Stat>([[root, rootStat]]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, s] of all) {
      if (!tree.has(pid) && tree.has(s.ppid)) {
        tree.set(pid, s);
        grew = true;
      }
    }
  }
  return tree;
}

/** The pids of `root`'s process tree (root first); empty when it is gone. */
export async function treePids(root: number): Promise<number[]> {
  return [...treeOf(root, await allStats()).keys()];
}

export interface TreeCpu {
  /** User + system CPU seconds used so far by the tree; NaN when the root is gone. */
  seconds: number;
  processes: number;
}

/** CPU used so far by the process trees of several servers, read in one pass (before and after a measured interval). */
export async function cpuSnapshot(roots: readonly number[]): Promise<Map<number, TreeCpu>> {
  const all = await allStats();
  const hz = clockTicks();
  const out = new Map<number, TreeCpu>();
  for (const root of roots) {
    const tree = [...treeOf(root, all).values()];
    out.set(root, { seconds: tree.length === 0 ? NaN : tree.reduce((t, s) => t + s.ticks, 0) / hz, processes: tree.length });
  }
  return out;
}

/** The kinds of thread a Node process runs, by the name the kernel shows (/proc/<pid>/task/<tid>/comm). */
export type ThreadKind = 'main' | 'v8' | 'other';
const kindOf = (comm: string): ThreadKind => (comm === 'MainThread' || comm === 'node' ? 'main' : comm.startsWith('V8Worker') ? 'v8' : 'other');

/**
 * CPU seconds used so far by one process's threads, by kind: its main thread (JavaScript, and the
 * GC's pauses) and V8's helper threads (`V8Worker`: the concurrent marking and sweeping a main-thread
 * CPU profile never shows). A thread that ended is not counted.
 */
export async function threadCpu(pid: number): Promise<Record<ThreadKind, number>> {
  const out: Record<ThreadKind, number> = { main: 0, v8: 0, other: 0 };
  const hz = clockTicks();
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return { main: NaN, v8: NaN, other: NaN };
  }
  await Promise.all(
    tids.map(async (tid) => {
      // undefined: the thread ended between the listing and the read. Its own time only (utime, stime):
      // a thread's cutime and cstime are its process's, counted once per thread otherwise.
      const t = await readStatFile(`/proc/${pid}/task/${tid}/stat`);
      if (t) out[kindOf(t.comm)] += (t.num(14) + t.num(15)) / hz;
    }),
  );
  return out;
}
