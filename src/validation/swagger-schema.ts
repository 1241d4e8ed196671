/**
 * Swagger 2.0 schemas (a JSON Schema draft-04 dialect) into the draft-07 form
 * Ajv compiles. The differences that change a verdict:
 * - `exclusiveMaximum: true` beside `maximum` (draft-04's boolean form);
 * - `type: file` (no JSON value: anything passes);
 * - `x-nullable: true` (the common extension for "may be null");
 * - `$ref: '#/definitions/X'`, pointed at the one shared definitions schema
 *   (DEFINITIONS_ID) so every operation reuses its compiled definitions.
 * Other internal `$ref`s (`#/parameters/...`, `#/responses/...`) are inlined.
 * Keywords Swagger adds (`discriminator`, `readOnly`, `xml`, `example`) are
 * left for Ajv to ignore (strict: false).
 */
import { isObject, type Json } from '../config/openapi.ts';

/** The $id under which a spec's `definitions` are added to its Ajv instance. */
export const DEFINITIONS_ID = 'swagger-definitions';
/** The same definitions as a request sees them: `readOnly` properties are never required (Swagger 2.0). */
export const REQUEST_DEFINITIONS_ID = 'swagger-definitions-request';

const DEFINITIONS_PREFIX = '#/definitions/';

/** Keys whose values are schemas, or maps or lists of schemas (the draft-04 vocabulary Swagger keeps). */
const SCHEMA_VALUED = new Set(['items', 'additionalProperties', 'not']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);

/** The value at a local JSON pointer (`#/a/b`) of the document, or undefined. */
export function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Follows `$ref`s of a non-schema object (a parameter, a response) to the object itself. */
export function deref(doc: Json, value: unknown, depth = 0): Json | undefined {
  if (!isObject(value)) return undefined;
  if (typeof value.$ref === 'string') return depth > 32 ? undefined : deref(doc, resolvePointer(doc, value.$ref), depth + 1);
  return value;
}

/**
 * The draft-07 form of one Swagger schema. `inlining` holds the non-definition
 * refs being expanded (a cycle through them becomes `{}`: accept rather than loop).
 */
export function toAjvSchema(doc: Json, schema: unknown, forRequest = false, inlining: ReadonlySet<string> = new Set()): unknown {
  const next = (s: unknown) => toAjvSchema(doc, s, forRequest, inlining);
  if (Array.isArray(schema)) return schema.map(next);
  if (!isObject(schema)) return schema;
  const ref = schema.$ref;
  if (typeof ref === 'string') {
    if (ref.startsWith(DEFINITIONS_PREFIX)) return { $ref: `${forRequest ? REQUEST_DEFINITIONS_ID : DEFINITIONS_ID}${ref}` };
    if (inlining.has(ref)) return {};
    const target = resolvePointer(doc, ref);
    return target === undefined ? {} : toAjvSchema(doc, target, forRequest, new Set([...inlining, ref]));
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (SCHEMA_VALUED.has(k)) out[k] = isObject(v) || Array.isArray(v) ? next(v) : v;
    else if (SCHEMA_MAPS.has(k) && isObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, next(s)]));
    else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) out[k] = v.map(next);
    else if (k === 'required' && forRequest && Array.isArray(v)) out[k] = v.filter((name) => !readOnlyProperty(doc, schema, name));
    else if (k === 'default' || k === 'example' || k === 'enum' || k === 'x-example') out[k] = v;
    else if (k.startsWith('x-') || k === 'discriminator' || k === 'xml' || k === 'externalDocs') continue;
    else out[k] = v;
  }
  boundsToDraft07(out);
  if (out.type === 'file') delete out.type;
  if (schema['x-nullable'] === true) allowNull(out);
  return out;
}

/** draft-04's `exclusiveMaximum: true` + `maximum: n` is draft-07's `exclusiveMaximum: n`. */
export function boundsToDraft07(s: Json): void {
  for (const [bound, exclusive] of [
    ['maximum', 'exclusiveMaximum'],
    ['minimum', 'exclusiveMinimum'],
  ] as const) {
    const flag = s[exclusive];
    if (typeof flag !== 'boolean') continue;
    if (flag && typeof s[bound] === 'number') {
      s[exclusive] = s[bound];
      delete s[bound];
    } else delete s[exclusive];
  }
}

/** A property marked `readOnly` (directly or on the definition it refers to): sent by servers only. */
function readOnlyProperty(doc: Json, schema: Json, name: unknown): boolean {
  const prop = isObject(schema.properties) ? schema.properties[String(name)] : undefined;
  if (!isObject(prop)) return false;
  if (prop.readOnly === true) return true;
  const target = typeof prop.$ref === 'string' ? resolvePointer(doc, prop.$ref) : undefined;
  return isObject(target) && target.readOnly === true;
}

function allowNull(s: Json): void {
  if (typeof s.type === 'string') s.type = [s.type, 'null'];
  else if (Array.isArray(s.type) && !s.type.includes('null')) s.type = [...s.type, 'null'];
  if (Array.isArray(s.enum) && !s.enum.includes(null)) s.enum = [...s.enum, null];
}
