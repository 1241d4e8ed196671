/**
 * Quota units as written in `x-google-management.quota.limits[].unit` and
 * in the gateway's own `x-endpoints-quota.limits[].unit`.
 *
 * ESP (Service Control) accepts only `1/min/{project}`. As a gateway
 * extension we also accept the windows `1/s`, `1/h` and `1/d`, and `{key}`
 * in place of `{project}` to give each API key its own budget instead of
 * sharing one per consumer project. Per-person budgets (`{user}`: the
 * verified subject; `{claim.NAME}`: one claim's value, a tenant id) belong
 * to `x-endpoints-quota` only: Google's block keeps Google's meaning.
 */
import type { QuotaWindow } from '../config/types.ts';

export type QuotaPer = 'project' | 'key' | 'user' | 'claim';

export interface QuotaUnit {
  readonly window: QuotaWindow;
  readonly windowSeconds: number;
  readonly per: QuotaPer;
  /** For `{claim.NAME}`: NAME. */
  readonly claim?: string;
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

/** A claim name as JWTs spell them: no braces, slashes or spaces, so the unit reads back one way. */
const CLAIM = /^\{claim\.([A-Za-z0-9_:.-]{1,128})\}$/;

const EXPECTED =
  "expected '1/min/{project}' (ESP), or '1/s', '1/min', '1/h', '1/d' followed by '/{project}' or '/{key}' (gateway extension)";
const EXPECTED_PERSON = "expected '1/s', '1/min', '1/h' or '1/d' followed by '/{user}' or '/{claim.NAME}' (or '/{project}', '/{key}')";

/**
 * Parses a quota unit; an `{ error }` explains what is accepted.
 * `perPerson`: the unit comes from x-endpoints-quota, where `{user}` and `{claim.NAME}` are allowed.
 */
export function parseQuotaUnit(unit: string, perPerson = false): QuotaUnit | { error: string } {
  const parts = typeof unit === 'string' ? unit.split('/') : [];
  const window = parts.length === 3 && parts[0] === '1' ? WINDOWS.get(parts[1]!) : undefined;
  if (window) {
    const tail = parts[2]!;
    const per = PER.get(tail);
    if (per) return { window: window.window, windowSeconds: window.windowSeconds, per };
    if (perPerson) {
      if (tail === '{user}') return { window: window.window, windowSeconds: window.windowSeconds, per: 'user' };
      const claim = CLAIM.exec(tail)?.[1];
      if (claim !== undefined) return { window: window.window, windowSeconds: window.windowSeconds, per: 'claim', claim };
    } else if (tail === '{user}' || tail.startsWith('{claim.')) {
      return { error: `unsupported quota unit '${unit}': per-person units belong in the top-level x-endpoints-quota block, not in Google's quota block, where ${EXPECTED}` };
    }
  }
  return { error: `unsupported quota unit '${String(unit)}': ${perPerson ? EXPECTED_PERSON : EXPECTED}` };
}
