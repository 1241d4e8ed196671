// What the numbers were measured on, saved with every result.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  kernel: string;
  date: string;
  git?: { commit: string; dirty: boolean };
}

function git(args: string[], cwd: string): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(repoDir: string, date: Date): Machine {
  const cpus = os.cpus();
  const commit = git(['rev-parse', 'HEAD'], repoDir);
  const status = git(['status', '--porcelain'], repoDir);
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    date: date.toISOString(),
    ...(commit !== undefined ? { git: { commit, dirty: (status ?? '') !== '' } } : {}),
  };
}

export function machineLine(m: Machine): string {
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  const rev = m.git ? `, commit ${m.git.commit.slice(0, 10)}${m.git.dirty ? ' (dirty)' : ''}` : '';
  return `${m.cpuModel}, ${m.cores} cores, ${gib} GiB, Node ${m.node}, ${m.platform}, ${m.date}${rev}`;
}
