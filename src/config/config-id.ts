import { specDigest } from './service.ts';

/** Hex digits of the bytes' SHA-256 kept in a config id: enough to tell versions apart, short enough to read. */
const DIGEST_CHARS = 12;

/**
 * A config's identity: `<info.version>-<first 12 hex of the SHA-256 of its bytes>`.
 * Only the bytes decide, so every instance serving the same file reports the
 * same id. A version that could not be read (an unparsable file) shows as
 * `unknown`; whitespace and slashes in a version become `_` so the id stays
 * one word in logs, metric labels and file names.
 */
export function configIdOf(version: string | undefined, digestHex: string): string {
  const v = (version ?? '').trim().replace(/[\s/\\]+/g, '_') || 'unknown';
  return `${v}-${digestHex.slice(0, DIGEST_CHARS)}`;
}

/** The config id of raw spec bytes whose version is known. */
export function configIdOfBytes(version: string | undefined, bytes: string | Buffer): string {
  return configIdOf(version, specDigest(bytes));
}
