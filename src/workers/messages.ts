/**
 * What the primary and its workers say to each other over the cluster's IPC
 * channel. Every message carries `egw`, so those of rate-limiter-flexible and
 * prom-client on the same channel are told apart.
 */

/** Set by the primary in each worker's environment: its slot, 1..N (a replacement takes the dead worker's slot). */
export const WORKER_SLOT_ENV = 'ENDPOINTS_WORKER_SLOT';

/** The slot whose worker watches the spec and tries each reload first. */
export const LEADER_SLOT = 1;

export interface WorkerStatus {
  readonly ready: boolean;
  readonly why: string;
  readonly configz: Record<string, unknown>;
}

export type ToWorker =
  | { readonly egw: 'status'; readonly id: number }
  /** Load the spec again (SIGHUP to the primary, or the leader swapped: the others follow). */
  | { readonly egw: 'reload' };

export type ToPrimary =
  | { readonly egw: 'listening'; readonly port: number; readonly configId: string }
  | { readonly egw: 'status'; readonly id: number; readonly status: WorkerStatus }
  /** The leader swapped in a new config (SIGHUP, --watch, a new version in the folder). */
  | { readonly egw: 'swapped'; readonly configId: string };

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { egw?: unknown }).egw === 'string';
}
export const isToPrimary = isToWorker as (m: unknown) => m is ToPrimary;
