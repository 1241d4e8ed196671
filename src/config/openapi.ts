/** The parts of an OpenAPI 2.0 document the gateway reads, loosely typed: validation happens before use. */
export type Json = Record<string, unknown>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function obj(v: unknown): Json {
  return isObject(v) ? v : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** basePath + path, the template the router and ESP's 405 message use. */
export function fullTemplate(basePath: unknown, path: string): string {
  const base = typeof basePath === 'string' && basePath !== '/' ? basePath.replace(/\/+$/, '') : '';
  return base + path;
}

export interface OperationRef {
  readonly path: string;
  readonly method: (typeof HTTP_METHODS)[number];
  readonly pathItem: Json;
  readonly op: Json;
}

/** Every operation of the document, in document order. */
export function operationsOf(doc: Json): OperationRef[] {
  const out: OperationRef[] = [];
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    if (!isObject(item)) continue;
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (isObject(op)) out.push({ path, method, pathItem: item, op });
    }
  }
  return out;
}
