import { arr, type Json } from './openapi.ts';
import type { SpecProblem } from './problems.ts';

/**
 * Where the validated document carries its warnings (a dangling `$ref` taken
 * as any value, an extension the gateway ignores), so they survive the
 * validated-spec cache and reach the compiled config, the logs and `validate`.
 */
const KEY = 'x-endpoints-gateway-spec-warnings';

export function withWarnings(api: Json, warnings: readonly SpecProblem[]): Json {
  if (warnings.length === 0) return api;
  return { ...api, [KEY]: warnings.map((w) => (w.where ? `${w.where}: ${w.message}` : w.message)) };
}

export function warningsOf(api: Json): readonly string[] {
  return arr(api[KEY]).map(String);
}
