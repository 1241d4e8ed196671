/**
 * Builds the verifier from the `--keys` option: `google` (API Keys service,
 * `apikeysEndpoint` optional), `file:PATH` (embedded store, reloaded on
 * change) or `none` (no verifier: operations requiring a key answer 503).
 */
import type { UpstreamViaPrimary } from '../../workers/upstream-calls.ts';
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
  /** In a cluster worker: the API Keys service is called by the primary, once for all workers. */
  readonly viaPrimary?: UpstreamViaPrimary | undefined;
}

/** Throws (before the gateway listens) on an unknown option or a broken/missing store file. */
export async function createKeyVerifierFromOption(spec: string, opts: KeyVerifierOptions = {}): Promise<ApiKeyVerifier | undefined> {
  let store: KeyStore;
  if (spec === 'none') return undefined;
  if (spec === 'google') {
    // Loaded on demand: the Google client library costs ~200 ms of start-up, paid only when used.
    const { createGoogleKeyStore, checkApiKeysEndpoint } = await import('./google-store.ts');
    const storeOpts = {
      ...(opts.apikeysEndpoint ? { endpoint: opts.apikeysEndpoint } : {}),
      ...(opts.apikeysTimeoutMs !== undefined ? { timeoutMs: opts.apikeysTimeoutMs } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    };
    if (opts.viaPrimary) {
      checkApiKeysEndpoint(opts.apikeysEndpoint);
      const via = opts.viaPrimary.keyLookup({
        endpoint: opts.apikeysEndpoint ?? '',
        timeoutMs: opts.apikeysTimeoutMs ?? 5000,
        refreshMs: opts.refreshMs ?? 5 * 60_000,
        negativeTtlMs: opts.negativeTtlMs ?? 30_000,
        max: opts.maxEntries ?? 10_000,
      });
      store = createGoogleKeyStore(storeOpts, via);
    } else {
      store = createGoogleKeyStore(storeOpts);
    }
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
