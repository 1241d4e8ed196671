import type { Logger } from './logger.ts';

/**
 * Node prints process warnings (`process.emitWarning`, e.g. google-auth-library's
 * `MetadataLookupWarning` when it probes for a metadata server off Google
 * Cloud) as plain text on stderr. While serving, every line is JSON: the
 * default printer is replaced by one WARNING log line per warning, and the
 * metadata probe's is explained.
 */
export function logProcessWarnings(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    const fields = { warning: w.name, ...(w.code ? { code: w.code } : {}), detail: w.message };
    if (w.name === 'MetadataLookupWarning') {
      log.warn(fields, 'Google metadata server lookup failed (normal off Google Cloud); Google credentials come from GOOGLE_APPLICATION_CREDENTIALS or gcloud instead, if any');
      return;
    }
    log.warn(fields, `process warning: ${w.name}`);
  });
}
