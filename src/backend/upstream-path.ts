import type { BackendRule } from '../config/types.ts';

/**
 * The path+query sent upstream, by ESPv2's rules (reference 1.3):
 * - APPEND_PATH_TO_ADDRESS: address path + the request path + the original query;
 *   an address without a path leaves the request untouched.
 * - CONSTANT_ADDRESS: the address path (or `/`), then the original query
 *   verbatim, then the template's variables as `name=rawValue`, in order.
 * `path` is the normalized path that was matched: what was checked is what is forwarded.
 * `rawQuery` is the text after the first `?`, or undefined when there was no `?`.
 */
export function upstreamPath(
  rule: BackendRule,
  path: string,
  rawQuery: string | undefined,
  bindings: ReadonlyArray<readonly [string, string]>,
): string {
  if (rule.translation === 'APPEND_PATH_TO_ADDRESS') {
    const base = rule.path === '' ? path : rule.path + path;
    return rawQuery === undefined ? base : `${base}?${rawQuery}`;
  }
  let out = rule.path === '' ? '/' : rule.path;
  if (rawQuery !== undefined) out += `?${rawQuery}`;
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i]!;
    out += (i === 0 && rawQuery === undefined ? '?' : '&') + b[0] + '=' + b[1];
  }
  return out;
}
