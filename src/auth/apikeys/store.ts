import type { KeyRecord } from './key-record.ts';

/** Where keys are verified: Google's API Keys service or the embedded file. */
export interface KeyStore {
  /**
   * The key's record, or null when the key is invalid (unknown, deleted,
   * NOT_FOUND / INVALID_ARGUMENT / PERMISSION_DENIED). Rejects with
   * KeyServiceError on an outage. `keyHash` is hashKey(key).
   */
  lookup(key: string, keyHash: string): Promise<KeyRecord | null>;
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
