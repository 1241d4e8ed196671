/**
 * ESPv2's CORS flags (src/go/options/configgenerator.go, flags.go): with
 * `--cors_preset` the proxy answers preflights itself and adds CORS headers
 * to every response for an allowed origin.
 */
export type CorsPreset = 'basic' | 'cors_with_regex';

export interface CorsOptions {
  readonly preset: CorsPreset;
  /** preset basic: the one allowed origin, `*` for any (ESPv2 default `*`). */
  readonly allowOrigin: string;
  /** preset cors_with_regex: origins matching this (RE2 in ESPv2; a JS RegExp here, whole value). */
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

/** ESPv2's start-up refusals for an incomplete preset (routegen/direct_response_cors.go), in our flag names. */
export function corsOptionsError(o: CorsOptions): string | undefined {
  if (o.preset === 'basic' && o.allowOrigin === '') return '--cors-allow-origin cannot be empty when --cors-preset=basic';
  if (o.preset === 'cors_with_regex') {
    if (o.allowOriginRegex === '') return '--cors-allow-origin-regex cannot be empty when --cors-preset=cors_with_regex';
    try {
      new RegExp(o.allowOriginRegex);
    } catch (err) {
      return `--cors-allow-origin-regex is not a valid regular expression: ${(err as Error).message}`;
    }
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
