/**
 * Request path normalization as Envoy does it with ESPv2's defaults
 * (reference 7; `normalize_path` then `merge_slashes`):
 *   1. percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded,
 *      every other escape is kept as written (`%2F` stays data);
 *   2. `.` and `..` segments are resolved (RFC 3986 5.2.4), `..` stops at the root;
 *   3. runs of '/' become one '/'.
 * A trailing slash is kept. The query string is never passed here.
 */

const SLASH = 0x2f;
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

/** Decodes %XX escapes of unreserved characters; keeps every other '%' as written. */
function decodeUnreserved(path: string): string {
  let out = '';
  let from = 0;
  let i = path.indexOf('%');
  while (i >= 0 && i + 2 < path.length) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hi < 0 ? -1 : hexValue(path.charCodeAt(i + 2));
    if (lo >= 0) {
      const c = hi * 16 + lo;
      if (isUnreserved(c)) {
        out += path.slice(from, i) + String.fromCharCode(c);
        from = i + 3;
        i = path.indexOf('%', from);
        continue;
      }
    }
    i = path.indexOf('%', i + 1);
  }
  return from === 0 ? path : out + path.slice(from);
}

/** Needs work only if it has an escape, a segment starting with '.', or an empty segment. */
function isPlain(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT) return false;
    if (c === SLASH && i + 1 < path.length) {
      const n = path.charCodeAt(i + 1);
      if (n === SLASH || n === DOT) return false;
    }
  }
  return true;
}

/**
 * Returns the normalized path, or null when `rawPath` is not an origin-form
 * path (it must start with '/'). Returns the input itself when nothing changes.
 */
export function normalizePath(rawPath: string): string | null {
  if (rawPath.length === 0 || rawPath.charCodeAt(0) !== SLASH) return null;
  if (isPlain(rawPath)) return rawPath;

  const decoded = decodeUnreserved(rawPath);
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
  let result = '/';
  for (const seg of out) {
    if (seg.length === 0) continue;
    result += result.charCodeAt(result.length - 1) === SLASH ? seg : '/' + seg;
  }
  // Keep one trailing slash if the resolved path ended with an empty segment.
  if (out.length > 0 && out[out.length - 1] === '' && result.length > 1) result += '/';
  return result === rawPath ? rawPath : result;
}
