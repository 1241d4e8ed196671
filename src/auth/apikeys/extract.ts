import type { IncomingHttpHeaders } from 'node:http';
import { queryParam } from '../query-param.ts';
import type { ApiKeyLocation } from '../../config/types.ts';

/**
 * Reads the API key from the operation's locations, in order; the first
 * location present wins, and an empty value there counts as missing and stops
 * the search (ESPv2, reference 3.1). `rawQuery` is the text after `?`; query
 * values are taken verbatim (not percent-decoded), the first occurrence.
 */
export function extractApiKey(
  locations: readonly ApiKeyLocation[],
  rawQuery: string | undefined,
  headers: IncomingHttpHeaders,
): string | undefined {
  for (const loc of locations) {
    let v: string | undefined;
    if (loc.in === 'query') {
      if (rawQuery === undefined || rawQuery === '') continue;
      v = queryParam(rawQuery, loc.name);
    } else {
      const h = headers[loc.name];
      if (h === undefined) continue;
      v = typeof h === 'string' ? h : h[0];
      if (v === undefined) continue;
      // Node joins repeated headers with ", "; ESPv2 takes the first value.
      const comma = v.indexOf(',');
      v = (comma === -1 ? v : v.slice(0, comma)).trim();
    }
    if (v === undefined) continue;
    return v === '' ? undefined : v;
  }
  return undefined;
}

