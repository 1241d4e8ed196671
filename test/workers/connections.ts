// Which processes hold a TCP connection to a port on this machine (Linux /proc): how a test tells that
// both gateway workers forwarded calls, since each keeps its own pool of backend connections.
import { readFile, readdir, readlink } from 'node:fs/promises';

/** Socket inodes of the established IPv4 connections whose remote end is `port`. */
async function inodesTo(port: number): Promise<Set<string>> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const lines = (await readFile('/proc/net/tcp', 'utf8')).trim().split('\n').slice(1);
  const out = new Set<string>();
  for (const l of lines) {
    const f = l.trim().split(/\s+/);
    // f[2] rem_address "0100007F:1F90", f[3] state (01 = ESTABLISHED), f[9] inode
    if (f[2]?.endsWith(`:${hex}`) && f[3] === '01' && f[9]) out.add(f[9]);
  }
  return out;
}

/** Those of `pids` that hold at least one established connection to `port`. */
export async function pidsConnectedTo(port: number, pids: readonly number[]): Promise<number[]> {
  const inodes = await inodesTo(port);
  const holding: number[] = [];
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        holding.push(pid);
        break;
      }
    }
  }
  return holding;
}
