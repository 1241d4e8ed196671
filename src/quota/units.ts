/**
 * Quota units as written in `x-google-management.quota.limits[].unit`.
 *
 * ESP (Service Control) accepts only `1/min/{project}`. As a gateway
 * extension we also accept the windows `1/s`, `1/h` and `1/d`, and `{key}`
 * in place of `{project}` to give each API key its own budget instead of
 * sharing one per consumer project.
 */
import type { QuotaWindow } from '../config/types.ts';

export interface QuotaUnit {
  readonly window: QuotaWindow;
  readonly windowSeconds: number;
  readonly per: 'project' | 'key';
}

// Maps, not object literals, so a unit like `1/toString/{project}` cannot hit a prototype member.
const WINDOWS: ReadonlyMap<string, { window: QuotaWindow; windowSeconds: number }> = new Map([
  ['s', { window: 'second', windowSeconds: 1 }],
  ['min', { window: 'minute', windowSeconds: 60 }],
  ['h', { window: 'hour', windowSeconds: 3600 }],
  ['d', { window: 'day', windowSeconds: 86_400 }],
] as const);

const PER: ReadonlyMap<string, 'project' | 'key'> = new Map([
  ['{project}', 'project'],
  ['{key}', 'key'],
] as const);

const EXPECTED =
  "expected '1/min/{project}' (ESP), or '1/s', '1/min', '1/h', '1/d' followed by '/{project}' or '/{key}' (gateway extension)";

/** Parses a quota unit; an `{ error }` explains what is accepted. */
export function parseQuotaUnit(unit: string): QuotaUnit | { error: string } {
  const parts = typeof unit === 'string' ? unit.split('/') : [];
  const window = parts.length === 3 && parts[0] === '1' ? WINDOWS.get(parts[1]!) : undefined;
  const per = window ? PER.get(parts[2]!) : undefined;
  if (!window || !per) return { error: `unsupported quota unit '${String(unit)}': ${EXPECTED}` };
  return { window: window.window, windowSeconds: window.windowSeconds, per };
}
