import type { IncomingHttpHeaders } from 'node:http';
import { queryParam } from '../query-param.ts';
import type { JwtLocation } from '../../config/types.ts';

export interface FoundJwt {
  readonly token: string;
  /** Where it was found (an element of the locations passed in). */
  readonly location: JwtLocation;
}

/**
 * The first token present at one of `locations`, in order. A header counts
 * only when its value starts with the location's prefix (case-insensitively:
 * `bearer` is `Bearer`, RFC 9110 11.1); ESPv2 does not take a bare token from
 * `Authorization`. Query values are taken verbatim, first occurrence. Empty
 * values count as absent.
 */
export function extractJwt(
  locations: readonly JwtLocation[],
  rawQuery: string | undefined,
  headers: IncomingHttpHeaders,
): FoundJwt | undefined {
  for (const location of locations) {
    let token: string | undefined;
    if (location.in === 'query') {
      if (rawQuery === undefined || rawQuery === '') continue;
      token = queryParam(rawQuery, location.name);
    } else {
      const h = headers[location.name];
      const v = typeof h === 'string' ? h : h?.[0];
      if (v === undefined) continue;
      const prefix = location.valuePrefix;
      if (prefix !== '') {
        if (v.length <= prefix.length) continue;
        // Exact prefix first (the usual `Bearer `); other casings take the slow path.
        if (!v.startsWith(prefix) && v.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) continue;
        token = v.slice(prefix.length).trim();
      } else token = v.trim();
    }
    if (token !== undefined && token !== '') return { token, location };
  }
  return undefined;
}

