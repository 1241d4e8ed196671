// Waiting for a condition instead of sleeping for a guessed time: a fixed sleep
// is too short on a loaded machine and too long on an idle one.

/**
 * Resolves once `check` holds, checking every 20 ms; fails after `ms`. The
 * deadline only bounds a failing test, so it is sized for a starved machine
 * (a 2-core CI runner under full load), not for speed.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
