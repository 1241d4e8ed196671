/**
 * ESPv2's CORS flags (src/go/options/configgenerator.go, flags.go): with
 * `--cors_preset` the proxy answers preflights itself and adds CORS headers
 * to every response for an allowed origin.
 */
import { LinearRegex } from '../config/linear-regex.ts';

export type CorsPreset = 'basic' | 'cors_with_regex';

export interface CorsOptions {
  readonly preset: CorsPreset;
  /** preset basic: the one allowed origin, `*` for any (ESPv2 default `*`). */
  readonly allowOrigin: string;
  /** preset cors_with_regex: origins matching this, whole value, with RE2 syntax and linear-time matching (as ESPv2). */
  readonly allowOriginRegex: string;
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly allowCredentials: boolean;
  readonly maxAgeMs: number;
}

/** ESPv2's defaults, word for word (options.DefaultConfigGeneratorOptions). */
export const CORS_DEFAULTS = {
  allowOrigin: '*',
  allowOriginRegex: '',
  allowMethods: 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  allowHeaders: 'DNT,User-Agent,X-User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization',
  exposeHeaders: 'Content-Length,Content-Range',
  allowCredentials: false,
  maxAgeMs: 480 * 3_600_000,
} as const;

export const CORS_PRESETS: readonly CorsPreset[] = ['basic', 'cors_with_regex'];

/** ESPv2 refuses an origin regex whose RE2 program is larger (routegen/direct_response_cors.go, util.GoogleRE2MaxProgramSize). */
export const CORS_REGEX_LIMITS = { maxProgramSize: 1000 } as const;

/** ESPv2's start-up refusals for an incomplete preset (routegen/direct_response_cors.go), in our flag names. */
export function corsOptionsError(o: CorsOptions): string | undefined {
  if (o.preset === 'basic' && o.allowOrigin === '') return '--cors-allow-origin cannot be empty when --cors-preset=basic';
  if (o.preset === 'cors_with_regex') {
    if (o.allowOriginRegex === '') return '--cors-allow-origin-regex cannot be empty when --cors-preset=cors_with_regex';
    const problem = LinearRegex.problem(o.allowOriginRegex, CORS_REGEX_LIMITS);
    if (problem !== undefined) return `--cors-allow-origin-regex is not a valid RE2 regular expression: ${problem}`;
  }
  return undefined;
}

/** The CLI's parsed --cors-* flags as options; undefined without --cors-preset (the others then do nothing, as in ESPv2). */
export function corsOptionsFrom(o: Record<string, unknown>): CorsOptions | undefined {
  if (o.corsPreset === undefined) return undefined;
  return {
    preset: o.corsPreset as CorsPreset,
    allowOrigin: String(o.corsAllowOrigin ?? CORS_DEFAULTS.allowOrigin),
    allowOriginRegex: String(o.corsAllowOriginRegex ?? CORS_DEFAULTS.allowOriginRegex),
    allowMethods: String(o.corsAllowMethods ?? CORS_DEFAULTS.allowMethods),
    allowHeaders: String(o.corsAllowHeaders ?? CORS_DEFAULTS.allowHeaders),
    exposeHeaders: String(o.corsExposeHeaders ?? CORS_DEFAULTS.exposeHeaders),
    allowCredentials: Boolean(o.corsAllowCredentials),
    maxAgeMs: typeof o.corsMaxAge === 'number' ? o.corsMaxAge : CORS_DEFAULTS.maxAgeMs,
  };
}
