import { hash } from 'node:crypto';
import type { CompiledRestrictions } from './compile.ts';

export type { CompiledRestrictions } from './compile.ts';

/**
 * The normalized data of one API key, as both stores (Google's API Keys
 * service and the embedded file) produce it. Never holds the key itself.
 */
export interface KeyRecord {
  /** Resource name (`projects/…/locations/global/keys/…`) or the embedded entry's id. */
  readonly name: string;
  /** Consumer project number; '' only for UNVERIFIED_RECORD (fail-open). */
  readonly project: string;
  readonly displayName: string;
  /** Compiled once when fetched/loaded; null: the key is unrestricted. */
  readonly restrictions: CompiledRestrictions | null;
}

/**
 * What a never-seen key is admitted as when the key service is down and the
 * verifier runs fail-open: nothing is known about it, so it carries no
 * project (callers can tell it by `project === ''`) and no restrictions.
 */
export const UNVERIFIED_RECORD: KeyRecord = Object.freeze({
  name: '',
  project: '',
  displayName: 'unverified (API Keys service unavailable, fail-open)',
  restrictions: null,
});

/** SHA-256 of the key, lower-case hex: the only form a key is stored, cached or compared in. */
export function hashKey(key: string): string {
  // One-shot hashing: no Hash object per request (this runs on every keyed call).
  return hash('sha256', key, 'hex');
}

/** The short identifier logs use for a key: the first 12 hex digits of its hash. */
export function fingerprint(keyHash: string): string {
  return keyHash.slice(0, 12);
}

/** pino-compatible; the default everywhere is NOOP_LOGGER. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const NOOP_LOGGER: Logger = Object.freeze({ info: noop, warn: noop, error: noop });
