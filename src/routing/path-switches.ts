/**
 * ESPv2's path switches, decided once at start:
 * - --disable-normalize-path (ESPv2 --disable_normalize_path, Envoy
 *   normalize_path false): the path is matched and forwarded as sent, except
 *   that runs of '/' are still merged (ESPv2's separate merge_slashes stays
 *   on). A path with a `.` or `..` segment is refused, as ESPv2's table says
 *   ("/hello/../world: Rejected"): unresolved, it could match one route here
 *   and name another on the backend. `%4A` then stays `%4A` (and matches no
 *   `/J` route). Still refused, as with normalization: `%00`, a malformed
 *   escape, and `\` (a WHATWG-parsing backend reads it as '/').
 * - --disallow-escaped-slashes-in-path (Envoy UNESCAPE_AND_REDIRECT): a path
 *   holding %2F or %5C is answered 307 to the same path with them unescaped
 *   (ESPv2's test: `/echo/123%2Fpath/` gets 307 `{"code":307,"message":""}`).
 */
import { GatewayError } from '../errors.ts';
import { normalizePath } from './normalize.ts';
import type { StageRun } from '../chain/stage.ts';

const HEX = /^[0-9a-fA-F]{2}$/;

/** A path as sent, slashes merged; null for one that is refused (see above). */
export function unnormalizedPath(rawPath: string): string | null {
  if (rawPath.length === 0 || rawPath.charCodeAt(0) !== 0x2f) return null;
  if (rawPath.includes('\\')) return null;
  for (let i = rawPath.indexOf('%'); i >= 0; i = rawPath.indexOf('%', i + 1)) {
    const hex = rawPath.slice(i + 1, i + 3);
    if (!HEX.test(hex) || hex === '00') return null;
  }
  for (const seg of rawPath.split('/')) {
    // `%2e` is a '.' to any backend that decodes once: the same refusal.
    const s = seg.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') return null;
  }
  return rawPath.includes('//') ? rawPath.replace(/\/{2,}/g, '/') : rawPath;
}

/** The path function of these flags: the default one when normalization is on. */
export function pathNormalizer(disableNormalize: boolean): (rawPath: string) => string | null {
  return disableNormalize ? unnormalizedPath : normalizePath;
}

const ESCAPED_SLASH = /%(2f|5c)/gi;

/** The 307 answer for a path that holds an escaped slash or backslash; undefined when it has none. */
export function escapedSlashRedirect(path: string, rawQuery: string | undefined): GatewayError | undefined {
  if (!path.includes('%')) return undefined;
  ESCAPED_SLASH.lastIndex = 0;
  if (!ESCAPED_SLASH.test(path)) return undefined;
  const unescaped = path.replace(ESCAPED_SLASH, (m) => (m[2] === 'f' || m[2] === 'F' ? '/' : '\\'));
  const location = rawQuery === undefined ? unescaped : `${unescaped}?${rawQuery}`;
  return new GatewayError(307, '', 'escaped_slash_redirect', { location });
}

/** The chain stage of --disallow-escaped-slashes-in-path (src/chain/chain.ts); absent when the flag is off. */
export const escapedSlashes: StageRun = (_req, ctx) => escapedSlashRedirect(ctx.path!, ctx.rawQuery);
