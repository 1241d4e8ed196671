/**
 * Deterministic sample values from Swagger 2.0 schemas and parameters: the
 * request `contract` sends and the body `mock` answers. Examples written in the
 * spec win (`x-example`, `example`, `default`, the first `enum` value); else a
 * value is made from the type, format and bounds. The same spec always gives
 * the same values, so a failing CI run can be repeated exactly.
 */
import { isObject, obj, type Json } from '../config/openapi.ts';
import { resolvePointer } from '../validation/swagger-schema.ts';
import { sampleForPattern } from './regex-sample.ts';

/** Requests leave out `readOnly` properties (Swagger 2.0: sent by the server only); responses keep them. */
export type Direction = 'request' | 'response';

/** Past this nesting only required properties and minimum-size arrays are made (and recursive schemas end). */
const MAX_DEPTH = 6;

const FORMAT_SAMPLES: Record<string, string> = {
  date: '2024-01-02',
  'date-time': '2024-01-02T03:04:05Z',
  time: '03:04:05Z',
  email: 'user@example.com',
  uuid: '123e4567-e89b-42d3-a456-426614174000',
  uri: 'https://example.com/resource',
  url: 'https://example.com/resource',
  'uri-reference': '/resource',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  byte: 'c2FtcGxl',
  binary: 'sample',
  password: 'sample-password',
};

export class SampleGenerator {
  readonly #doc: Json;
  readonly #direction: Direction;

  /** `doc` is the spec as written (with its `$ref`s), so recursive definitions stay finite. */
  constructor(doc: Json, direction: Direction) {
    this.#doc = doc;
    this.#direction = direction;
  }

  /** A value for a schema (a body, a response, an array's items). */
  schema(schema: unknown, variant = 0): unknown {
    return this.#value(schema, 0, [], variant);
  }

  /**
   * A value for a non-body parameter: its `x-example`, `default`, first enum
   * value, else one made from its type (the parameter object is its own schema).
   */
  parameter(p: Json): unknown {
    if (p['x-example'] !== undefined) return p['x-example'];
    return this.#value(p, 0, [], 0);
  }

  #value(raw: unknown, depth: number, refs: readonly string[], variant: number): unknown {
    if (!isObject(raw)) return 'sample';
    let s = raw;
    let stack = refs;
    // Follow $refs; a definition already being expanded twice on this branch ends the recursion.
    for (let hops = 0; typeof s.$ref === 'string'; hops++) {
      const ref = s.$ref;
      if (hops > 32 || stack.filter((r) => r === ref).length >= 2) return undefined;
      stack = [...stack, ref];
      s = obj(resolvePointer(this.#doc, ref));
    }
    if (s['x-example'] !== undefined) return s['x-example'];
    if (s.example !== undefined) return s.example;
    if (s.default !== undefined) return s.default;
    if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[variant % s.enum.length];
    if (Array.isArray(s.allOf) && s.allOf.length > 0) return this.#allOf(s, depth, stack, variant);
    for (const k of ['oneOf', 'anyOf'] as const) {
      const list = s[k];
      if (Array.isArray(list) && list.length > 0) return this.#value(list[0], depth, stack, variant);
    }
    const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
    switch (type ?? (isObject(s.properties) || isObject(s.additionalProperties) ? 'object' : isObject(s.items) ? 'array' : undefined)) {
      case 'object':
        return this.#object(s, depth, stack);
      case 'array':
        return this.#array(s, depth, stack);
      case 'integer':
        return integerSample(s, variant);
      case 'number':
        return numberSample(s, variant);
      case 'boolean':
        return variant % 2 === 0;
      case 'null':
        return null;
      case 'file':
        return 'sample file';
      case 'string':
        return stringSample(s, variant);
      default:
        return 'sample';
    }
  }

  #allOf(s: Json, depth: number, refs: readonly string[], variant: number): unknown {
    const { allOf, ...own } = s;
    let merged: unknown;
    for (const part of [...(allOf as unknown[]), own]) {
      if (part === own && Object.keys(own).length === 0) continue;
      const v = this.#value(part, depth, refs, variant);
      if (isObject(v) && (merged === undefined || isObject(merged))) merged = { ...(merged as Json | undefined), ...v };
      else if (merged === undefined) merged = v;
    }
    return merged;
  }

  #object(s: Json, depth: number, refs: readonly string[]): Json {
    const out: Json = {};
    const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
    for (const [name, prop] of Object.entries(obj(s.properties))) {
      const isRequired = required.has(name);
      if (!isRequired && depth >= MAX_DEPTH) continue;
      if (!isRequired && this.#direction === 'request' && obj(prop).readOnly === true) continue;
      const v = this.#value(prop, depth + 1, refs, 0);
      if (v !== undefined) out[name] = v;
    }
    if (Object.keys(obj(s.properties)).length === 0 && isObject(s.additionalProperties) && depth < MAX_DEPTH) {
      const v = this.#value(s.additionalProperties, depth + 1, refs, 0);
      if (v !== undefined) out.name = v;
    }
    return out;
  }

  #array(s: Json, depth: number, refs: readonly string[]): unknown[] {
    const min = typeof s.minItems === 'number' ? s.minItems : 0;
    const max = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
    const count = Math.min(max, Math.max(min, depth >= MAX_DEPTH ? 0 : 1));
    const out: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const v = this.#value(s.items, depth + 1, refs, s.uniqueItems === true ? i : 0);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}

function integerSample(s: Json, variant: number): number {
  const step = typeof s.multipleOf === 'number' && Number.isInteger(s.multipleOf) && s.multipleOf > 0 ? s.multipleOf : 1;
  let lo = -Infinity;
  let hi = Infinity;
  if (typeof s.minimum === 'number') lo = s.exclusiveMinimum === true ? Math.floor(s.minimum) + 1 : Math.ceil(s.minimum);
  if (typeof s.exclusiveMinimum === 'number') lo = Math.floor(s.exclusiveMinimum) + 1;
  if (typeof s.maximum === 'number') hi = s.exclusiveMaximum === true ? Math.ceil(s.maximum) - 1 : Math.floor(s.maximum);
  if (typeof s.exclusiveMaximum === 'number') hi = Math.ceil(s.exclusiveMaximum) - 1;
  let v = (lo === -Infinity ? Math.min(hi, 1) : lo) + variant * step;
  v = Math.ceil(v / step) * step;
  if (v > hi) v = Math.floor(hi / step) * step;
  return Object.is(v, -0) ? 0 : v;
}

function numberSample(s: Json, variant: number): number {
  if (typeof s.multipleOf === 'number' && s.multipleOf > 0) return integerSample({ ...s, multipleOf: 1 }, variant) * s.multipleOf;
  let lo = -Infinity;
  let hi = Infinity;
  if (typeof s.minimum === 'number') lo = s.minimum + (s.exclusiveMinimum === true ? 0.5 : 0);
  if (typeof s.exclusiveMinimum === 'number') lo = s.exclusiveMinimum + 0.5;
  if (typeof s.maximum === 'number') hi = s.maximum - (s.exclusiveMaximum === true ? 0.5 : 0);
  if (typeof s.exclusiveMaximum === 'number') hi = s.exclusiveMaximum - 0.5;
  const v = (lo === -Infinity ? 1.5 : lo) + variant;
  return v > hi ? (lo === -Infinity ? hi : (lo + hi) / 2) : v;
}

function stringSample(s: Json, variant: number): string {
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  const candidates: string[] = [];
  const format = typeof s.format === 'string' ? FORMAT_SAMPLES[s.format] : undefined;
  if (typeof s.pattern === 'string') {
    const fromPattern = sampleForPattern(s.pattern);
    if (fromPattern !== undefined) candidates.push(fromPattern);
  }
  if (format !== undefined) candidates.push(format);
  candidates.push(variant === 0 ? 'sample' : `sample${variant}`);
  const fits = (c: string) => c.length >= min && c.length <= max && (typeof s.pattern !== 'string' || safeTest(s.pattern, c));
  const hit = candidates.find(fits);
  if (hit !== undefined) return hit;
  // Stretch or cut the best candidate to the length bounds.
  const base = candidates[0]!;
  const padded = base.length < min ? base + 'x'.repeat(min - base.length) : base;
  return padded.length > max ? padded.slice(0, max) : padded;
}

function safeTest(pattern: string, value: string): boolean {
  try {
    return new RegExp(pattern).test(value);
  } catch {
    return true;
  }
}
