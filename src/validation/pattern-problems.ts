/**
 * Every regex a spec gives the validator (`pattern`, and the names of
 * `patternProperties`), checked once when the spec is loaded: one RE2 cannot
 * run (linear-regexp.ts) refuses the spec, named by its place, rather than
 * leaving its operation unchecked at the first request.
 */
import { isObject, type Json } from '../config/openapi.ts';
import { shown, where, type SpecProblem } from '../config/problems.ts';
import { linearPatternError } from './linear-regexp.ts';

/** Maps whose keys are names, not keywords: every value under them is walked. */
const NAMED = new Set(['paths', 'definitions', 'parameters', 'responses', 'properties', 'patternProperties']);
/** Values that are data or documentation, never schemas. */
const NOT_SCHEMA = new Set(['example', 'examples', 'default', 'enum', 'description', 'externalDocs', 'xml', 'info', 'tags', 'securityDefinitions', 'security', 'headers']);

function problem(path: readonly (string | number)[], pattern: string, error: string): SpecProblem {
  return { where: where(...path), message: `${shown(pattern)} is not a regex RE2 can run (${error}): --validate matches spec patterns in linear time, with RE2's syntax` };
}

export function patternProblems(doc: Json): SpecProblem[] {
  const out: SpecProblem[] = [];
  const todo: { node: unknown; path: (string | number)[] }[] = [{ node: doc, path: [] }];
  while (todo.length > 0) {
    const { node, path } = todo.pop()!;
    // Children are stacked in reverse, so problems come out in document order.
    const children: { node: unknown; path: (string | number)[] }[] = [];
    if (Array.isArray(node)) node.forEach((v, i) => children.push({ node: v, path: [...path, i] }));
    if (!isObject(node)) {
      todo.push(...children.reverse());
      continue;
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === 'pattern' && typeof v === 'string') {
        const err = linearPatternError(v);
        if (err !== undefined) out.push(problem([...path, k], v, err));
      } else if (NAMED.has(k) && isObject(v)) {
        for (const [name, child] of Object.entries(v)) {
          if (k === 'patternProperties') {
            const err = linearPatternError(name);
            if (err !== undefined) out.push(problem([...path, k, name], name, err));
          }
          children.push({ node: child, path: [...path, k, name] });
        }
      } else if (!NOT_SCHEMA.has(k) && !k.startsWith('x-')) {
        children.push({ node: v, path: [...path, k] });
      }
    }
    todo.push(...children.reverse());
  }
  return out;
}
