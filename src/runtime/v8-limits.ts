/**
 * The gateway's V8 heap limits, however it is started. Without them V8 sizes
 * the young generation and old-space growth to the host, and RSS after load
 * passes 400 MiB where Cloud Run gives 512 MiB (bench/README.md). V8 fixes its
 * heap layout when the process starts, so they cannot be set at run time:
 * a process started without them (`node dist/cli.js`, `npx`, an image whose
 * NODE_OPTIONS were replaced) replaces itself at once with the same command
 * and the missing limits put first in NODE_OPTIONS. process.execve keeps the
 * pid, the open files and the signals (no wrapper process). The bin's shebang
 * and the image's ENV already carry them, so those starts pay nothing.
 *
 * A limit the operator gives (on node's command line or in NODE_OPTIONS) is
 * never replaced, and every flag of theirs comes after ours, so theirs win.
 */

/** Each limit, and the spellings of its name Node and V8 accept. */
export const V8_LIMITS: readonly { readonly flag: string; readonly name: RegExp }[] = [
  { flag: '--max-semi-space-size=8', name: /^--max[-_]semi[-_]space[-_]size(=|$)/ },
  { flag: '--max-old-space-size=128', name: /^--max[-_]old[-_]space[-_]size(=|$)/ },
];

/** The limits neither node's own flags nor NODE_OPTIONS set. */
export function missingLimits(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return V8_LIMITS.filter((l) => !given.some((a) => l.name.test(a))).map((l) => l.flag);
}

/**
 * Replaces this process with itself plus the missing limits, or returns when
 * none is missing (or the platform cannot replace a process: Windows).
 */
export function applyV8Limits(): void {
  const missing = missingLimits(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  const nodeOptions = [...missing, process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, NODE_OPTIONS: nodeOptions });
  } catch {
    // Not replaced (an exec refused by the system): run on with V8's own sizing rather than not at all.
  }
}

applyV8Limits();
