/**
 * Non-body parameters arrive as strings (path segments, query values,
 * headers, urlencoded form fields): this turns them into the typed values the
 * parameter's schema speaks of, the way Swagger 2.0 defines it (`type`,
 * `items`, `collectionFormat`), before Ajv checks formats, enums, patterns and
 * bounds. A string that is not of its type is the problem itself.
 */
import { isObject, type Json } from '../config/openapi.ts';

export type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly at: string; readonly problem: string };

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const SEPARATORS: Record<string, string> = { csv: ',', ssv: ' ', tsv: '\t', pipes: '|' };

/** One value of a parameter (or of an array item) of the given shape. */
export function parseValue(shape: Json, raw: string, at = ''): Parsed {
  switch (shape.type) {
    case 'integer':
      return INTEGER.test(raw) ? { ok: true, value: Number(raw) } : { ok: false, at, problem: 'must be integer' };
    case 'number':
      return NUMBER.test(raw) ? { ok: true, value: Number(raw) } : { ok: false, at, problem: 'must be number' };
    case 'boolean':
      if (raw === 'true') return { ok: true, value: true };
      if (raw === 'false') return { ok: true, value: false };
      return { ok: false, at, problem: 'must be boolean' };
    case 'array':
      return parseArray(shape, splitCollection(shape, raw), at);
    default:
      return { ok: true, value: raw };
  }
}

/**
 * All the values a parameter was sent with (several for a repeated query
 * parameter): `collectionFormat: multi` takes each as an item, anything else
 * the first.
 */
export function parseParameter(shape: Json, values: readonly string[]): Parsed {
  if (shape.type === 'array' && shape.collectionFormat === 'multi') return parseArray(shape, values, '');
  return parseValue(shape, values[0]!, '');
}

function splitCollection(shape: Json, raw: string): string[] {
  if (raw === '') return [];
  const format = typeof shape.collectionFormat === 'string' ? shape.collectionFormat : 'csv';
  return raw.split(SEPARATORS[format] ?? ',');
}

function parseArray(shape: Json, items: readonly string[], at: string): Parsed {
  const itemShape = isObject(shape.items) ? shape.items : {};
  const out: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = parseValue(itemShape, items[i]!, `${at}/${i}`);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return { ok: true, value: out };
}
