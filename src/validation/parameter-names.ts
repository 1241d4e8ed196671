/**
 * Query strings and urlencoded forms reach the backend as sent, and backends
 * read them differently from the validator: Django, Rails and PHP take the
 * last of a repeated name (the validator, the first); qs, PHP and Rails read
 * `limit[]` or `limit[0]` as `limit`; ASP.NET binds names case-insensitively.
 * So a checked value is only the one the backend sees when each declared
 * parameter is sent once (unless `collectionFormat: multi`) and no other name
 * could be bound to it.
 */
import type { ParameterCheck } from './contract.ts';
import { quoted, violation, type Violation } from './violations.ts';

function takesMany(p: ParameterCheck): boolean {
  return p.shape.type === 'array' && p.shape.collectionFormat === 'multi';
}

/** The declared parameter a name that is not declared itself would be bound to: by case, or ignoring a bracket suffix. */
function boundTo(byLower: ReadonlyMap<string, ParameterCheck>, sent: string): ParameterCheck | undefined {
  const lower = sent.toLowerCase();
  const direct = byLower.get(lower);
  if (direct !== undefined) return direct;
  for (let i = lower.indexOf('['); i > 0; i = lower.indexOf('[', i + 1)) {
    const p = byLower.get(lower.slice(0, i));
    if (p !== undefined) return p;
  }
  return undefined;
}

/** The first name sent in a way the backend may read otherwise than it was checked (`list`: the declared query or form parameters). */
export function ambiguousParameter(list: readonly ParameterCheck[], sent: ReadonlyMap<string, readonly string[]>): Violation | undefined {
  const exact = new Map<string, ParameterCheck>();
  const byLower = new Map<string, ParameterCheck>();
  for (const p of list) {
    exact.set(p.name, p);
    byLower.set(p.name.toLowerCase(), p);
  }
  for (const [name, values] of sent) {
    const p = exact.get(name);
    if (p === undefined) {
      const declared = boundTo(byLower, name);
      if (declared !== undefined) return violation('request_parameter', declared.label, `must be sent by its exact name, not as ${quoted(name)}`);
    } else if (values.length > 1 && !takesMany(p)) {
      return violation('request_parameter', p.label, `must be sent once, not ${values.length} times`);
    }
  }
  return undefined;
}
