/**
 * The positive request for an operation, made from the spec alone: path and
 * query values from `x-example`, `default`, `enum`, else generated from the
 * type and format; a body from the body parameter's `x-example` or generated
 * from its schema. Credentials are added separately (credentials.ts), so each
 * probe can take this request and change only what it tests.
 */
import { isObject, type Json } from '../config/openapi.ts';
import type { SampleGenerator } from './sample.ts';
import type { SpecOperation } from './spec-model.ts';

export interface PlannedRequest {
  readonly method: string;
  /** The request path, percent-encoded, basePath included. */
  readonly path: string;
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: { readonly contentType: string; readonly text: string };
}

const SEPARATORS: Record<string, string> = { csv: ',', ssv: ' ', tsv: '\t', pipes: '|' };

/** A parameter value as it travels in a path, query or header (collectionFormat for arrays). */
function asText(p: Json, value: unknown): string[] {
  if (Array.isArray(value)) {
    const items = value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    if (p.collectionFormat === 'multi') return items;
    return [items.join(SEPARATORS[String(p.collectionFormat ?? 'csv')] ?? ',')];
  }
  return [typeof value === 'string' ? value : JSON.stringify(value)];
}

/** A value for `{name}` or `{name=pattern}` in a template; unnamed `*`/`**` segments get a fixed word. */
export function concretePath(template: string, valueOf: (name: string) => string | undefined): string {
  const withVariables = template.replace(/\{([^}=]+)(?:=([^}]*))?\}/g, (_m, name: string, pattern: string | undefined) => {
    const value = valueOf(name);
    const multi = pattern !== undefined && pattern.includes('**');
    const encoded = value === undefined ? 'sample' : multi ? value.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(value);
    if (pattern === undefined || pattern === '*' || pattern === '**') return encoded;
    // A pattern with literals (`{name=shelves/*}`): its literal segments, the value for its wildcards.
    return pattern.split('/').map((seg) => (seg === '*' || seg === '**' ? encoded : seg)).join('/');
  });
  return withVariables
    .split('/')
    .map((seg) => (seg === '*' || seg === '**' ? 'sample' : seg.startsWith('*:') || seg.startsWith('**:') ? `sample${seg.slice(seg.indexOf(':'))}` : seg))
    .join('/');
}

export function plannedRequest(o: SpecOperation, gen: SampleGenerator): PlannedRequest {
  const pathValues = new Map<string, string>();
  const query: [string, string][] = [];
  const headers: Record<string, string> = {};
  const form: [string, string][] = [];
  let body: PlannedRequest['body'];

  for (const p of o.parameters) {
    const name = String(p.name);
    // Optional values are sent when the spec gives an example for them: that is what the author meant to test.
    const send = p.required === true || p.in === 'path' || p['x-example'] !== undefined;
    if (!send) continue;
    switch (p.in) {
      case 'path':
        pathValues.set(name, asText(p, gen.parameter(p))[0]!);
        break;
      case 'query':
        for (const v of asText(p, gen.parameter(p))) query.push([name, v]);
        break;
      case 'header':
        headers[name.toLowerCase()] = asText(p, gen.parameter(p))[0]!;
        break;
      case 'formData':
        if (p.type !== 'file') for (const v of asText(p, gen.parameter(p))) form.push([name, v]);
        break;
      case 'body': {
        const value = p['x-example'] !== undefined ? p['x-example'] : gen.schema(isObject(p.schema) ? p.schema : {});
        const type = o.consumes.find((m) => /json/i.test(m)) ?? 'application/json';
        body = { contentType: type, text: typeof value === 'string' && !/json/i.test(type) ? value : JSON.stringify(value) };
        break;
      }
    }
  }
  if (!body && form.length > 0) {
    body = { contentType: 'application/x-www-form-urlencoded', text: new URLSearchParams(form).toString() };
  }
  return {
    method: o.op.method,
    path: concretePath(o.op.template, (n) => pathValues.get(n)),
    query,
    headers,
    ...(body ? { body } : {}),
  };
}
