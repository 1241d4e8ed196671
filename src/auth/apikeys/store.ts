import type { KeyRecord } from './key-record.ts';

/**
 * The key service answered PERMISSION_DENIED: the key may be real, but its
 * project has not let this gateway (its service account) read it. For the
 * caller that is ESP's "API not enabled for the project", not "invalid key".
 */
export const NOT_PERMITTED = 'not-permitted' as const;

/** A store's record; `verifiedAt` (ms epoch): when the service confirmed it, if not just now. */
export type StoredKey = KeyRecord & { readonly verifiedAt?: number };

/** Where keys are verified: Google's API Keys service or the embedded file. */
export interface KeyStore {
  /**
   * The key's record; null when the key is invalid (unknown, deleted,
   * NOT_FOUND / INVALID_ARGUMENT); NOT_PERMITTED when the key service refuses
   * to tell us (PERMISSION_DENIED: the key's project is not one this gateway
   * may read keys of). Rejects with KeyServiceError on an outage.
   * `keyHash` is hashKey(key). A record the store confirmed earlier (a
   * cluster's primary answering from its cache) says when in `verifiedAt`.
   */
  lookup(key: string, keyHash: string): Promise<StoredKey | null | typeof NOT_PERMITTED>;
  /** Stores whose contents change under us (the embedded file) call `listener` after each change. */
  onChange?(listener: () => void): void;
  close(): void;
}

/**
 * The key service could not answer. Its message never contains the key
 * (callers log it as is); `code` is the gRPC code when one is known.
 */
export class KeyServiceError extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = 'KeyServiceError';
    this.code = code;
  }
}
