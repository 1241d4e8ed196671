import { isObject, type Json } from './openapi.ts';
import { where, type SpecProblem } from './problems.ts';

/**
 * Internal `$ref`s whose target the document lacks. ESPv2's own examples
 * (examples/dynamic_routing, examples/service_control) point a response schema
 * at an undefined `#/definitions/listShelvesResponse`, and Google's compiler
 * maps it to any value. Where the reference only describes a payload (inside
 * `definitions`, a `schema`, or `responses`), the gateway behaves the same
 * whatever it would have said: the `$ref` is taken as any value, with a
 * located warning. Anywhere else (a parameter, a security definition, an
 * extension) the missing target would change what the gateway does, so the
 * spec is refused, naming the place.
 */
export function danglingRefs(doc: Json): { doc: Json; problems: SpecProblem[]; warnings: SpecProblem[] } {
  const problems: SpecProblem[] = [];
  const warnings: SpecProblem[] = [];
  let changed = false;
  // One shared key path (pushed and popped), copied only when a finding names it.
  const at: (string | number)[] = [];
  const walk = (node: unknown, depth: number): unknown => {
    if (depth > 256 || node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < node.length; i++) {
        at.push(i);
        const v = node[i];
        const w = walk(v, depth + 1);
        if (w !== v) (copy ??= [...node])[i] = w;
        at.pop();
      }
      return copy ?? node;
    }
    const o = node as Json;
    const ref = o.$ref;
    if (typeof ref === 'string' && ref.startsWith('#') && resolve(doc, ref) === undefined) {
      const place = where(...at, '$ref');
      if (describesPayload(at)) {
        warnings.push({ where: place, message: `refers to ${ref}, which the document does not define; taken as any value, as Google's compiler does` });
        changed = true;
        return {};
      }
      problems.push({ where: place, message: `refers to ${ref}, which the document does not define; define it or remove the reference` });
      return node;
    }
    let copy: Json | undefined;
    for (const k in o) {
      const v = o[k];
      if (v === null || typeof v !== 'object') continue;
      at.push(k);
      const w = walk(v, depth + 1);
      if (w !== v) (copy ??= { ...o })[k] = w;
      at.pop();
    }
    return copy ?? node;
  };
  const out = walk(doc, 0) as Json;
  return { doc: changed ? out : doc, problems, warnings };
}

function describesPayload(at: readonly (string | number)[]): boolean {
  return at[0] === 'definitions' || at.includes('schema') || at.includes('responses') || at[0] === 'responses';
}

/** The value a JSON pointer (`#/a/b~1c`) names, or undefined. */
function resolve(doc: Json, ref: string): unknown {
  if (ref === '#') return doc;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node as object, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
