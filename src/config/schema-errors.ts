import { shown, where, type SpecProblem } from './problems.ts';

/** The fields of an Ajv ErrorObject that we read (swagger-parser exposes the same shape). */
export interface SchemaErrorLike {
  readonly instancePath: string;
  readonly keyword: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

function pointerKeys(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')));
}

function valueAt(doc: unknown, keys: readonly (string | number)[]): unknown {
  let cur: unknown = doc;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function within(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(`${ancestor}/`);
}

/**
 * Ajv reports every failed branch of a oneOf/anyOf (a query parameter is also
 * checked as a body, header, form and path parameter). Inside such a choice,
 * keep the errors that say what is wrong with a value and drop the branch
 * noise: discriminator mismatches, and structural complaints about an object
 * whose own fields already have a more specific error.
 */
function pruneBranches(errors: readonly SchemaErrorLike[]): SchemaErrorLike[] {
  const choices = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.instancePath);
  const inChoice = (e: SchemaErrorLike) => choices.some((c) => within(e.instancePath, c));
  const rest = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  const discriminator = (e: SchemaErrorLike) =>
    e.keyword === 'enum' && Array.isArray(e.params?.allowedValues) && (e.params.allowedValues as unknown[]).length === 1;
  const structural = (e: SchemaErrorLike) => e.keyword === 'required' || e.keyword === 'additionalProperties';
  const valueErrors = rest.filter((e) => !structural(e) && !discriminator(e));
  const kept = rest.filter((e) => {
    if (!inChoice(e)) return true;
    if (discriminator(e)) return valueErrors.length === 0;
    if (structural(e)) return !valueErrors.some((v) => inChoice(v) && within(v.instancePath, e.instancePath) && v.instancePath !== e.instancePath);
    return true;
  });
  return kept.length > 0 ? kept : [...errors];
}

/**
 * Turns JSON-Schema errors into one readable line per problem.
 */
export function schemaProblems(
  errors: readonly SchemaErrorLike[],
  doc: unknown,
  prefix: readonly (string | number)[] = [],
  docPrefix: readonly (string | number)[] = [],
): SpecProblem[] {
  const seenPlace = new Set<string>();
  const seen = new Set<string>();
  const out: SpecProblem[] = [];
  for (const e of pruneBranches(errors)) {
    const keys = pointerKeys(e.instancePath);
    let message = e.message ?? 'is not valid';
    let at: (string | number)[] = keys;
    if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
      at = [...keys, e.params.additionalProperty];
      message = 'is not a known field here';
    } else if (e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)) {
      message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => shown(v)).join(', ')} (got ${shown(valueAt(doc, [...docPrefix, ...keys]))})`;
    } else if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') {
      message = `is missing the required field "${e.params.missingProperty}"`;
    } else {
      const v = valueAt(doc, [...docPrefix, ...keys]);
      if (v !== undefined && (typeof v !== 'object' || v === null)) message += ` (got ${shown(v)})`;
    }
    const w = where(...prefix, ...at);
    // One value error per place: alternatives of a choice repeat themselves.
    const valueError = e.keyword !== 'required' && e.keyword !== 'additionalProperties';
    if (valueError && seenPlace.has(w)) continue;
    const id = `${w}\u0000${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (valueError) seenPlace.add(w);
    out.push({ where: w, message });
  }
  return out;
}
