/**
 * Request path normalization as Envoy does it with ESPv2's defaults
 * (reference 7; `normalize_path` then `merge_slashes`; Envoy's
 * `PathUtil::canonicalPath`, a snapshot of Chromium's path canonicalizer):
 *   1. `\` becomes `/` (a WHATWG-parsing backend would read it as a separator,
 *      so it must count as one when matching, and be forwarded as one);
 *   2. percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded,
 *      every other escape is kept as written: `%2F` and `%5C` stay data
 *      (Envoy's tests: `/%5c%25` stays `/%5c%25`; escaped slashes are only
 *      touched with --disallow_escaped_slashes_in_path, off by default);
 *   3. `.` and `..` segments are resolved (RFC 3986 5.2.4), `..` stops at the root;
 *   4. runs of '/' become one '/'.
 * Refused (null → 400): `%00` (Envoy rejects it: `/xyz/.%00../abc`), and any
 * `%` not followed by two hex digits. Envoy passes a lone malformed escape
 * through and repairs nested ones (`%%30%30`); we refuse them all: no valid
 * RFC 3986 path has one, and a path like `/%%32%65%%32%65/` would otherwise
 * become `/%2e%2e/` here, which a backend decoding once more reads as `..`.
 * A trailing slash is kept. The query string is never passed here.
 */

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const DOT = 0x2e;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; // ASCII lower case
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === DOT || c === 0x5f || c === 0x7e
  );
}

/**
 * Backslashes to slashes, unreserved escapes decoded, other escapes kept as
 * written; null for `%00` or a malformed escape.
 */
function canonicalChars(path: string): string | null {
  let out = '';
  let from = 0;
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === BACKSLASH) {
      out += path.slice(from, i) + '/';
      from = i + 1;
    } else if (c === PERCENT) {
      if (i + 2 >= n) return null;
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      const v = hi * 16 + lo;
      if (v === 0) return null;
      if (isUnreserved(v)) {
        out += path.slice(from, i) + String.fromCharCode(v);
        from = i + 3;
      }
      i += 2;
    }
  }
  return from === 0 ? path : out + path.slice(from);
}

/** Needs work only if it has an escape, a backslash, a segment starting with '.', or an empty segment. */
function isPlain(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH) return false;
    if (c === SLASH && i + 1 < path.length) {
      const n = path.charCodeAt(i + 1);
      if (n === SLASH || n === DOT) return false;
    }
  }
  return true;
}

/**
 * Returns the normalized path, or null when `rawPath` is not an origin-form
 * path (it must start with '/') or holds `%00` or a malformed escape.
 * Returns the input itself when nothing changes.
 */
export function normalizePath(rawPath: string): string | null {
  if (rawPath.length === 0 || rawPath.charCodeAt(0) !== SLASH) return null;
  if (isPlain(rawPath)) return rawPath;

  const decoded = canonicalChars(rawPath);
  if (decoded === null) return null;
  // Dot segments, on the segments after the leading '/'; empty segments stay
  // (they count for '..', as in RFC 3986) and are merged afterwards.
  const input = decoded.slice(1).split('/');
  const out: string[] = [];
  const last = input.length - 1;
  for (let i = 0; i <= last; i++) {
    const seg = input[i]!;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (i === last) out.push(''); // `/a/.` and `/a/b/..` end with a slash
      continue;
    }
    out.push(seg);
  }
  // Empty segments dropped (merge_slashes). Appending only, never reading the
  // string being built: reading a concatenated string flattens it (quadratic).
  let result = '';
  for (const seg of out) if (seg.length > 0) result += '/' + seg;
  if (result === '') return rawPath === '/' ? rawPath : '/';
  // Keep one trailing slash if the resolved path ended with an empty segment.
  if (out[out.length - 1] === '') result += '/';
  return result === rawPath ? rawPath : result;
}
