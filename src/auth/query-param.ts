/**
 * The value of the first `name=value` in a raw query string (the text after
 * `?`), verbatim (not percent-decoded, as ESPv2 reads credentials); '' for a
 * bare `name`; undefined when absent. Walks the string without splitting it:
 * this runs for every request that carries a credential.
 */
export function queryParam(q: string, name: string): string | undefined {
  let i = 0;
  const n = name.length;
  while (i <= q.length) {
    const amp = q.indexOf('&', i);
    const end = amp === -1 ? q.length : amp;
    if (end - i >= n && q.startsWith(name, i)) {
      const after = i + n;
      if (after === end) return '';
      if (q.charCodeAt(after) === 0x3d /* = */) return q.slice(after + 1, end);
    }
    if (amp === -1) break;
    i = amp + 1;
  }
  return undefined;
}
