import type { ApiKeyLocation, ApiKeyScheme, JwtLocation, JwtScheme, SecurityRequirement, SecurityScheme, SigninScheme } from './types.ts';
import { compileSigninScheme } from '../signin/config.ts';
import { arr, obj, type Json } from './openapi.ts';

/** ESP's key locations when a spec says `{type: apiKey, name: key, in: query}` (reference 3.1). */
export const DEFAULT_API_KEY_LOCATIONS: readonly ApiKeyLocation[] = Object.freeze([
  { in: 'query', name: 'key' },
  { in: 'query', name: 'api_key' },
  { in: 'header', name: 'x-api-key' },
]);

/** ESPv2's JWT locations when `x-google-jwt-locations` is absent (reference 6). */
export const DEFAULT_JWT_LOCATIONS: readonly JwtLocation[] = Object.freeze([
  { in: 'header', name: 'authorization', valuePrefix: 'Bearer ' },
  { in: 'header', name: 'x-goog-iap-jwt-assertion', valuePrefix: '' },
  { in: 'query', name: 'access_token', valuePrefix: '' },
]);

const OPEN: SecurityRequirement = Object.freeze({
  alternatives: [],
  apiKeyRequired: false,
  apiKeyLocations: DEFAULT_API_KEY_LOCATIONS,
  jwtSchemes: [],
  jwtLocations: [],
  jwtRequired: false,
});

/** Compiles `securityDefinitions` once; operations share these objects. */
export function compileSchemes(defs: Json, serviceName: string): Map<string, SecurityScheme> {
  const out = new Map<string, SecurityScheme>();
  for (const [name, raw] of Object.entries(defs)) {
    const d = obj(raw);
    if (d.type === 'apiKey') {
      const location: ApiKeyLocation = d.in === 'header' ? { in: 'header', name: String(d.name).toLowerCase() } : { in: 'query', name: String(d.name) };
      const isDefault = location.in === 'query' && location.name === 'key';
      const scheme: ApiKeyScheme = { kind: 'apiKey', name, locations: isDefault ? DEFAULT_API_KEY_LOCATIONS : [location] };
      out.set(name, scheme);
    } else if (d.type === 'oauth2' && d['x-endpoints-signin'] !== undefined) {
      out.set(name, compileSigninScheme(name, d));
    } else if (d.type === 'oauth2' && typeof d['x-google-issuer'] === 'string') {
      const audiences = typeof d['x-google-audiences'] === 'string'
        ? d['x-google-audiences'].split(',').map((a) => a.trim()).filter(Boolean)
        : [];
      const locations: JwtLocation[] = arr(d['x-google-jwt-locations']).map((l) => {
        const loc = obj(l);
        return typeof loc.query === 'string'
          ? { in: 'query' as const, name: loc.query, valuePrefix: '' }
          : { in: 'header' as const, name: String(loc.header).toLowerCase(), valuePrefix: typeof loc.value_prefix === 'string' ? loc.value_prefix : '' };
      });
      const scheme: JwtScheme = {
        kind: 'jwt',
        name,
        issuer: d['x-google-issuer'],
        jwksUri: typeof d['x-google-jwks_uri'] === 'string' ? d['x-google-jwks_uri'] : null,
        audiences: audiences.length > 0 ? audiences : [`https://${serviceName}`],
        locations: locations.length > 0 ? locations : DEFAULT_JWT_LOCATIONS,
      };
      out.set(name, scheme);
    }
  }
  return out;
}

/**
 * An operation's requirement: its own `security`, else the top level's, else
 * open. OR of alternatives, AND inside one; a key is required only when every
 * alternative names an apiKey scheme (reference 3.2).
 */
export function compileRequirement(security: unknown, schemes: ReadonlyMap<string, SecurityScheme>): SecurityRequirement {
  const list = arr(security);
  if (list.length === 0) return OPEN;
  const alternatives = list.map((req) =>
    Object.keys(obj(req))
      .map((n) => schemes.get(n))
      .filter((s): s is SecurityScheme => s !== undefined),
  );
  // An alternative that names nothing we enforce (e.g. `{}`) makes the operation open.
  if (alternatives.some((a) => a.length === 0)) return OPEN;
  const apiKeyRequired = alternatives.every((a) => a.some((s) => s.kind === 'apiKey'));
  const jwtSchemes = [...new Set(alternatives.flat().filter((s): s is JwtScheme => s.kind === 'jwt'))];
  return {
    alternatives,
    apiKeyRequired,
    apiKeyLocations: keyLocations(alternatives),
    jwtSchemes,
    jwtLocations: jwtLocationsOf(jwtSchemes),
    jwtRequired: alternatives.every((a) => a.some((s) => s.kind === 'jwt')),
    signin: alternatives.flat().find((s): s is SigninScheme => s.kind === 'signin') ?? null,
  };
}

/** Where to look for a token on an operation: every location its schemes name, once each, in order. */
function jwtLocationsOf(schemes: readonly JwtScheme[]): readonly JwtLocation[] {
  if (schemes.length === 0) return [];
  if (schemes.every((s) => s.locations === DEFAULT_JWT_LOCATIONS)) return DEFAULT_JWT_LOCATIONS;
  const all = new Map<string, JwtLocation>();
  for (const s of schemes) for (const l of s.locations) if (!all.has(jwtLocationKey(l))) all.set(jwtLocationKey(l), l);
  return [...all.values()];
}

/** Identifies a token location (the same place with the same prefix) across schemes. */
export function jwtLocationKey(l: JwtLocation): string {
  return `${l.in}:${l.name}:${l.valuePrefix}`;
}

/** Custom locations replace the defaults; ESP reads every query name before any header. */
function keyLocations(alternatives: readonly (readonly SecurityScheme[])[]): readonly ApiKeyLocation[] {
  const keySchemes = alternatives.flat().filter((s): s is ApiKeyScheme => s.kind === 'apiKey');
  if (keySchemes.length === 0 || keySchemes.every((s) => s.locations === DEFAULT_API_KEY_LOCATIONS)) return DEFAULT_API_KEY_LOCATIONS;
  const all = new Map<string, ApiKeyLocation>();
  for (const s of keySchemes) for (const l of s.locations) all.set(`${l.in}:${l.name}`, l);
  const locs = [...all.values()];
  return [...locs.filter((l) => l.in === 'query'), ...locs.filter((l) => l.in === 'header')];
}
