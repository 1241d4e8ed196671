/**
 * What the operator is told about backend ID tokens, and how often. Off Google
 * Cloud with `--backend-auth google` there are no credentials at all: that is
 * said once, with the local choice, instead of one warning per backend every
 * retry. Other failures are logged when they start or change, and the
 * recovery once.
 */
import type { Logger } from '../observability/logger.ts';

/** google-auth-library's text when Application Default Credentials find nothing. */
const NO_CREDENTIALS = /Could not load the default credentials/i;

export const NO_CREDENTIALS_MESSAGE =
  'no Google credentials found (Application Default Credentials: no metadata server, no GOOGLE_APPLICATION_CREDENTIALS, no gcloud login): ' +
  'backends that need an ID token answer 500 and /readyz stays 503. Off Google Cloud, run with --backend-auth none (ENDPOINTS_BACKEND_AUTH=none); ' +
  'to call private Google Cloud backends from here, run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS';

/** First retry of the start-up token fetch after this long, doubling up to {@link WARM_RETRY_MAX_MS}. */
export const WARM_RETRY_FIRST_MS = 2_000;
export const WARM_RETRY_MAX_MS = 60_000;

/** Delay before start-up retry number `attempt` (1-based): 2 s, 4 s, 8 s, ... at most 60 s. */
export function warmRetryDelay(attempt: number): number {
  return Math.min(WARM_RETRY_MAX_MS, WARM_RETRY_FIRST_MS * 2 ** Math.max(0, attempt - 1));
}

export function isNoCredentialsError(err: Error | undefined): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (NO_CREDENTIALS.test(e.message)) return true;
  return false;
}

/** The `onFetch` observer of the ID-token source. */
export function createIdTokenReporter(log: Logger) {
  let saidNoCredentials = false;
  /** Per audience: the failure last logged and how many failures since. */
  const failing = new Map<string, { message: string; count: number }>();
  return (audience: string, ok: boolean, ms: number, error?: Error): void => {
    const was = failing.get(audience);
    if (ok) {
      if (was) {
        failing.delete(audience);
        log.info({ audience, failedAttempts: was.count }, 'backend ID token obtained');
      }
      if (failing.size === 0) saidNoCredentials = false;
      return;
    }
    const message = error?.message ?? 'unknown error';
    if (isNoCredentialsError(error)) {
      failing.set(audience, { message: NO_CREDENTIALS_MESSAGE, count: (was?.count ?? 0) + 1 });
      if (!saidNoCredentials) {
        saidNoCredentials = true;
        log.error({ backendAuth: 'google' }, NO_CREDENTIALS_MESSAGE);
      }
      return;
    }
    if (was && was.message === message) {
      was.count++;
      return;
    }
    failing.set(audience, { message, count: (was?.count ?? 0) + 1 });
    log.warn({ audience, ms, err: message }, 'could not get a backend ID token (logged again only when the error changes)');
  };
}
