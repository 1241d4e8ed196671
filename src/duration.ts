const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds (the unit of the
 * ESPv2 flags these mirror, e.g. `--jwks_cache_duration_in_s`, and of the spec's
 * own `deadline`). Milliseconds need their `ms`.
 */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}
