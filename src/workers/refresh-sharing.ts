/**
 * Sign-in refreshes across workers: providers that rotate refresh tokens
 * treat a second use of one as theft and revoke the grant, so a session's
 * refresh runs in one worker at a time, and its result (the new session and
 * cookie) is handed to the other workers' requests that still carry the old
 * cookie, as one process does with its own cache (src/signin/runtime.ts).
 *
 * The primary keeps the claims: the first worker to ask runs the refresh,
 * the others wait for its result. Keys are hashes of the refresh token; the
 * token itself never crosses the channel in a key, only inside the result
 * (between our own processes).
 */
import { createHash } from 'node:crypto';
import type { Worker } from 'node:cluster';
import { LRUCache } from 'lru-cache';

/** What the sign-in runtime uses: `run` happens in at most one worker at a time per key. */
export interface RefreshSharing {
  /** `run` resolves the value (JSON) and whether others may reuse it (a failed refresh is not reused). */
  once(refreshToken: string, run: () => Promise<{ value: unknown; share: boolean }>): Promise<unknown>;
}

type Claim = { readonly egw: 'refresh-claim'; readonly id: number; readonly key: string };
type Done = { readonly egw: 'refresh-done'; readonly key: string; readonly value: unknown; readonly share: boolean };
type Answer = { readonly egw: 'refresh-answer'; readonly id: number; readonly run: boolean; readonly value?: unknown };

/** How long a worker waits for the primary before refreshing on its own (the primary is stuck or gone). */
const CLAIM_TIMEOUT_MS = 30_000;
/** As long as a process reuses its own refresh results (src/signin/runtime.ts). */
const RESULT_TTL_MS = 120_000;

const keyOf = (rt: string): string => createHash('sha256').update(rt).digest('base64url');

/** A worker's side. */
export function workerRefreshSharing(): RefreshSharing {
  let nextId = 0;
  const waiting = new Map<number, (a: Answer) => void>();
  process.on('message', (m: unknown) => {
    const a = m as Answer;
    if (a?.egw === 'refresh-answer') waiting.get(a.id)?.(a);
  });
  const ask = (key: string): Promise<Answer> =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve({ egw: 'refresh-answer', id, run: true });
      }, CLAIM_TIMEOUT_MS);
      timer.unref();
      waiting.set(id, (a) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(a);
      });
      if (process.connected) process.send!({ egw: 'refresh-claim', id, key } satisfies Claim);
      else waiting.get(id)!({ egw: 'refresh-answer', id, run: true });
    });
  return {
    async once(refreshToken, run) {
      const key = keyOf(refreshToken);
      const a = await ask(key);
      if (!a.run) return a.value;
      const r = await run();
      if (process.connected) process.send!({ egw: 'refresh-done', key, value: r.value, share: r.share } satisfies Done);
      return r.value;
    },
  };
}

/** The primary's side: one claim per key; waiters get the owner's result. */
export function primaryRefreshCoordinator(): { onMessage(w: Worker, m: unknown): boolean; onExit(w: Worker): void } {
  interface Running {
    owner: Worker;
    readonly waiters: { readonly w: Worker; readonly id: number }[];
  }
  const running = new Map<string, Running>();
  const results = new LRUCache<string, { value: unknown }>({ max: 10_000, ttl: RESULT_TTL_MS });
  const answer = (w: Worker, a: Answer) => {
    if (w.isConnected()) w.send(a);
  };
  return {
    onMessage(w, m) {
      const msg = m as Claim | Done;
      if (msg?.egw === 'refresh-claim') {
        const done = results.get(msg.key);
        const r = running.get(msg.key);
        if (done) answer(w, { egw: 'refresh-answer', id: msg.id, run: false, value: done.value });
        else if (r) r.waiters.push({ w, id: msg.id });
        else {
          running.set(msg.key, { owner: w, waiters: [] });
          answer(w, { egw: 'refresh-answer', id: msg.id, run: true });
        }
        return true;
      }
      if (msg?.egw === 'refresh-done') {
        const r = running.get(msg.key);
        running.delete(msg.key);
        if (msg.share) results.set(msg.key, { value: msg.value });
        for (const x of r?.waiters ?? []) answer(x.w, { egw: 'refresh-answer', id: x.id, run: false, value: msg.value });
        return true;
      }
      return false;
    },
    onExit(w) {
      // The owner died mid-refresh: the first waiter takes it over, the others keep waiting.
      for (const [key, r] of running) {
        if (r.owner !== w) continue;
        const next = r.waiters.shift();
        if (!next) running.delete(key);
        else {
          r.owner = next.w;
          answer(next.w, { egw: 'refresh-answer', id: next.id, run: true });
        }
      }
    },
  };
}
