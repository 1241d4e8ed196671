/**
 * Builds the verifier from the `--keys` option: `google` (API Keys service,
 * `apikeysEndpoint` optional), `file:PATH` (embedded store, reloaded on
 * change) or `none` (no verifier: operations requiring a key answer 503).
 */
import type { Logger } from './key-record.ts';
import type { KeyStore } from './store.ts';
import { createApiKeyVerifier, type ApiKeyVerifier } from './verifier.ts';

export interface KeyVerifierOptions {
  readonly apikeysEndpoint?: string | undefined;
  readonly apikeysTimeoutMs?: number | undefined;
  readonly failOpen?: boolean | undefined;
  readonly maxEntries?: number | undefined;
  readonly refreshMs?: number | undefined;
  readonly maxAgeMs?: number | undefined;
  readonly negativeTtlMs?: number | undefined;
  readonly log?: Logger | undefined;
}

/** Throws (before the gateway listens) on an unknown option or a broken/missing store file. */
export async function createKeyVerifierFromOption(spec: string, opts: KeyVerifierOptions = {}): Promise<ApiKeyVerifier | undefined> {
  let store: KeyStore;
  if (spec === 'none') return undefined;
  if (spec === 'google') {
    // Loaded on demand: the Google client library costs ~200 ms of start-up, paid only when used.
    const { createGoogleKeyStore } = await import('./google-store.ts');
    store = createGoogleKeyStore({
      ...(opts.apikeysEndpoint ? { endpoint: opts.apikeysEndpoint } : {}),
      ...(opts.apikeysTimeoutMs !== undefined ? { timeoutMs: opts.apikeysTimeoutMs } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  } else if (spec.startsWith('file:') && spec.length > 5) {
    const { createFileKeyStore } = await import('./file-store.ts');
    store = await createFileKeyStore(spec.slice(5), opts.log ? { log: opts.log } : {});
  } else {
    throw new Error(`--keys must be google, file:PATH or none, got "${spec}"`);
  }
  return createApiKeyVerifier(store, {
    ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
    ...(opts.refreshMs !== undefined ? { refreshMs: opts.refreshMs } : {}),
    ...(opts.maxAgeMs !== undefined ? { maxAgeMs: opts.maxAgeMs } : {}),
    ...(opts.negativeTtlMs !== undefined ? { negativeTtlMs: opts.negativeTtlMs } : {}),
    ...(opts.failOpen !== undefined ? { failOpen: opts.failOpen } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
}
