/**
 * JSON object keys a backend may read differently from the validator: a
 * declared property given twice (JSON.parse, and so Ajv, sees only the last;
 * some parsers keep the first), or a key that differs from a declared
 * property only by case (Go's encoding/json, among others, binds `NAME` to a
 * field named `name`, so a value Ajv never checked as `name` becomes it).
 *
 * Only declared properties count: a free-form object's keys are the
 * backend's business. Which properties are declared at a place of the body is
 * read from the Swagger schema itself, `$ref`s followed and `allOf`/`anyOf`/
 * `oneOf` branches merged, walking down with the value (never recursing: the
 * value's depth is bounded before this runs, the schema's by the value).
 */
import { isObject, type Json } from '../config/openapi.ts';
import type { DuplicateKey, PathSegment } from './json-scan.ts';
import { resolvePointer } from './swagger-schema.ts';
import { quoted } from './violations.ts';

export interface AmbiguousKey {
  readonly path: readonly PathSegment[];
  readonly problem: string;
}

const BRANCHES = ['allOf', 'anyOf', 'oneOf'] as const;

/** Every schema that applies at one place: `$ref`s resolved, combinator branches included. */
function expand(doc: Json, roots: readonly unknown[]): Json[] {
  const out: Json[] = [];
  const seen = new Set<Json>();
  const todo = [...roots];
  while (todo.length > 0) {
    let s = todo.pop();
    // A chain of $refs is followed as far as it stays new (a cycle ends it).
    for (let hops = 0; isObject(s) && typeof s.$ref === 'string' && hops < 32; hops++) s = resolvePointer(doc, s.$ref);
    if (!isObject(s) || seen.has(s)) continue;
    seen.add(s);
    out.push(s);
    for (const b of BRANCHES) if (Array.isArray(s[b])) todo.push(...(s[b] as unknown[]));
  }
  return out;
}

/** The schemas of a member: the declared property's, else `additionalProperties`'s; an array's `items`. */
function childSchemas(schemas: readonly Json[], seg: PathSegment): unknown[] {
  const out: unknown[] = [];
  for (const s of schemas) {
    if (typeof seg === 'number') {
      if (isObject(s.items)) out.push(s.items);
      else if (Array.isArray(s.items)) out.push(s.items[seg]);
    } else if (isObject(s.properties) && Object.hasOwn(s.properties, seg)) out.push(s.properties[seg]);
    else if (isObject(s.additionalProperties)) out.push(s.additionalProperties);
  }
  return out;
}

function declaredNames(schemas: readonly Json[]): Set<string> {
  const names = new Set<string>();
  for (const s of schemas) if (isObject(s.properties)) for (const n of Object.keys(s.properties)) names.add(n);
  return names;
}

/** The body's schema, ready to answer for any place in a body. */
export class DeclaredKeys {
  readonly #doc: Json;
  readonly #root: unknown;

  constructor(doc: Json, schema: unknown) {
    this.#doc = doc;
    this.#root = schema;
  }

  /** The first key repeated (per the text scan) that is a declared property where it stands. */
  duplicate(dups: readonly DuplicateKey[]): AmbiguousKey | undefined {
    for (const d of dups) {
      let schemas = expand(this.#doc, [this.#root]);
      for (const seg of d.path) schemas = expand(this.#doc, childSchemas(schemas, seg));
      if (declaredNames(schemas).has(d.key)) return { path: d.path, problem: `has the property '${d.key}' more than once` };
    }
    return undefined;
  }

  /** The first key, anywhere in the parsed body, that differs from a property declared there only by case. */
  caseCollision(value: unknown): AmbiguousKey | undefined {
    const todo: { value: unknown; schemas: Json[]; path: PathSegment[] }[] = [{ value, schemas: expand(this.#doc, [this.#root]), path: [] }];
    while (todo.length > 0) {
      const { value: v, schemas, path } = todo.pop()!;
      if (schemas.length === 0) continue;
      if (Array.isArray(v)) {
        v.forEach((item, i) => todo.push({ value: item, schemas: expand(this.#doc, childSchemas(schemas, i)), path: [...path, i] }));
        continue;
      }
      if (!isObject(v)) continue;
      const names = declaredNames(schemas);
      const byLower = new Map<string, string>();
      for (const n of names) byLower.set(n.toLowerCase(), n);
      for (const [k, child] of Object.entries(v)) {
        const declared = names.has(k) ? undefined : byLower.get(k.toLowerCase());
        if (declared !== undefined) return { path, problem: `must not have the property ${quoted(k)}, which differs from the declared '${declared}' only by case` };
        todo.push({ value: child, schemas: expand(this.#doc, childSchemas(schemas, k)), path: [...path, k] });
      }
    }
    return undefined;
  }
}
