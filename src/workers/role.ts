/**
 * Whether this process is one of the gateway's cluster workers, and which.
 * Read once at start: with --workers 1 (the default) there is no cluster and
 * nothing here costs anything per request.
 */
import cluster from 'node:cluster';
import { LEADER_SLOT, WORKER_SLOT_ENV } from './messages.ts';

export interface WorkerRole {
  readonly slot: number;
  /** Watches the spec and tries reloads first, so a refused one is refused (and logged) once. */
  readonly leader: boolean;
}

let role: WorkerRole | undefined | null = null;

/** undefined: a gateway on its own (no --workers, or a program that embeds it under its own cluster). */
export function workerRole(): WorkerRole | undefined {
  if (role === null) {
    const slot = Number(process.env[WORKER_SLOT_ENV]);
    role = cluster.isWorker && Number.isInteger(slot) && slot > 0 ? { slot, leader: slot === LEADER_SLOT } : undefined;
  }
  return role;
}
