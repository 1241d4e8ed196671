/**
 * Path parameters against their template, checked by us so that each problem
 * is located like every other one and reported in the same pass
 * (swagger-parser stops at the first, in its own unlocated form).
 */
import { arr, isObject, obj, type Json } from './openapi.ts';
import { shown, where, type SpecProblem } from './problems.ts';

/** Names of the `{name}` / `{name=...}` variables of one path as written. */
export function pathVariables(path: string): string[] {
  return [...path.matchAll(/\{([^}=]+)(?:=[^}]*)?\}/g)].map((m) => m[1]!.trim());
}

/** One operation's path parameters vs. its path; `declared`: names of its (dereferenced) `in: path` parameters. */
export function missingPathParameterProblems(path: string, method: string, declared: readonly string[], out: SpecProblem[]): string[] {
  const missing = pathVariables(path).filter((v) => !declared.includes(v));
  for (const name of missing) {
    out.push({
      where: where('paths', path, method, 'parameters'),
      message: `has no path parameter for the template variable ${shown(name)} of "${path}" (add - name: ${name}, in: path, required: true, type: string)`,
    });
  }
  return missing;
}

/** `#/a/b` inside the document (the only kind of $ref a spec may hold here). */
function local(doc: Json, v: unknown): unknown {
  const ref = isObject(v) ? v.$ref : undefined;
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return v;
  let node: unknown = doc;
  for (const part of ref.slice(2).split('/')) node = obj(node)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}

/**
 * The copy of the document swagger-parser's remaining checks see: the path
 * parameter problems we already reported are repaired in it (missing ones
 * declared, ones absent from the template dropped), so it goes on to the
 * problems only it finds instead of stopping at ours.
 */
export function withPathParametersRepaired(doc: Json, missing: ReadonlyMap<string, readonly string[]>): Json {
  const paths: Json = { ...obj(doc.paths) };
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    const vars = pathVariables(path);
    const fits = (p: unknown) => {
      const d = obj(local(doc, p));
      return d.in !== 'path' || vars.includes(String(d.name));
    };
    const copy: Json = { ...item, parameters: arr(item.parameters).filter(fits) };
    if (item.parameters === undefined) delete copy.parameters;
    for (const [method, op] of Object.entries(item)) {
      if (!isObject(op) || method === 'parameters' || method.startsWith('x-')) continue;
      const add = (missing.get(`${method} ${path}`) ?? []).map((name) => ({ name, in: 'path', required: true, type: 'string' }));
      if (add.length === 0 && op.parameters === undefined) continue;
      copy[method] = { ...op, parameters: [...arr(op.parameters).filter(fits), ...add] };
    }
    paths[path] = copy;
  }
  return { ...doc, paths };
}

const OP_PREFIX = /^\/paths(\/\S*?)\/(get|put|post|delete|options|head|patch) (.*)$/;
const PATH_PREFIX = /^\/paths(\/\S*) (has .*)$/;

/** swagger-parser names the place as `/paths/<path>/<method> ...`: put it in the common located form. */
export function locatedSwaggerProblem(p: SpecProblem): SpecProblem {
  if (p.where !== '') return p;
  const op = OP_PREFIX.exec(p.message);
  if (op) return { where: where('paths', op[1]!, op[2]!), message: op[3]! };
  const item = PATH_PREFIX.exec(p.message);
  if (item) return { where: where('paths', item[1]!), message: item[2]! };
  return p;
}
