/**
 * A request against its operation's contract: path, query and header
 * parameters, then the body (`in: body` JSON against its schema, or urlencoded
 * `formData` fields). The first problem found is the verdict.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describeAjvError, isJsonType, mediaTypeAllowed, mediaTypeOf, type OperationContract, type ParameterCheck } from './contract.ts';
import { MAX_JSON_DEPTH, pointer, scanJson } from './json-scan.ts';
import { ambiguousParameter } from './parameter-names.ts';
import { parseParameter } from './parameter-values.ts';
import { quoted, violation, type Violation } from './violations.ts';

export interface RequestParts {
  readonly rawQuery: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly bindings: ReadonlyArray<readonly [name: string, rawValue: string]>;
  /** The body read for validation; undefined when none was sent. */
  readonly body: Buffer | undefined;
  /** The body was too large to read for validation (reported apart): its checks are skipped. */
  readonly bodyUnchecked?: boolean;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // malformed escapes are checked as sent
  }
}

/** `a=1&b=x&a=2` → {a: ['1', '2'], b: ['x']}, `+` as space (HTML forms). */
export function parseQuery(raw: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!raw) return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decode((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1).replace(/\+/g, ' '));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

function checkParameter(p: ParameterCheck, values: readonly string[] | undefined): Violation | undefined {
  if (values === undefined || values.length === 0) {
    return p.required ? violation('request_parameter', p.label, 'is required') : undefined;
  }
  const parsed = parseParameter(p.shape, values);
  if (!parsed.ok) return violation('request_parameter', p.label, parsed.problem, parsed.at);
  if (p.validate(parsed.value)) return undefined;
  const e = describeAjvError(p.validate.errors?.[0]);
  return violation('request_parameter', p.label, e.problem, e.at);
}

function checkParameters(list: readonly ParameterCheck[], values: (name: string) => readonly string[] | undefined): Violation | undefined {
  for (const p of list) {
    const v = checkParameter(p, values(p.name));
    if (v) return v;
  }
  return undefined;
}

function headerValues(h: string | string[] | undefined): readonly string[] | undefined {
  return h === undefined ? undefined : Array.isArray(h) ? h : [h];
}

export function checkRequest(c: OperationContract, r: RequestParts): Violation | undefined {
  if (c.path.length > 0) {
    const v = checkParameters(c.path, (name) => {
      for (const [n, raw] of r.bindings) if (n === name) return [decode(raw)];
      return undefined;
    });
    if (v) return v;
  }
  if (c.query.length > 0) {
    const q = parseQuery(r.rawQuery);
    const v = ambiguousParameter(c.query, q) ?? checkParameters(c.query, (name) => q.get(name));
    if (v) return v;
  }
  if (c.header.length > 0) {
    const v = checkParameters(c.header, (name) => headerValues(r.headers[name]));
    if (v) return v;
  }
  return c.readsBody && r.bodyUnchecked !== true ? checkBody(c, r) : undefined;
}

function checkBody(c: OperationContract, r: RequestParts): Violation | undefined {
  const bytes = r.body;
  const empty = bytes === undefined || bytes.length === 0;
  const ct = r.headers['content-type'];
  const type = ct === undefined ? undefined : mediaTypeOf(ct);
  if (!empty && type !== undefined && c.consumes.length > 0 && !mediaTypeAllowed(c.consumes, type)) {
    const listed = c.consumesDeclared ? c.consumes.join(', ') : `none declared, so ${c.body ? 'JSON' : 'a form'}: ${c.consumes.join(', ')}`;
    return violation('request_body', `request Content-Type ${quoted(ct!)}`, `not in consumes (${listed})`);
  }
  const body = c.body;
  if (body) {
    if (empty) return body.required ? violation('request_body', body.label, 'is required') : undefined;
    // Only JSON can be checked against a schema; a body of another declared type passes as is.
    if (body.validate === null || (type !== undefined && !isJsonType(type))) return undefined;
    const text = bytes.toString('utf8');
    let value: unknown;
    try {
      // JSON.parse takes any depth (V8's parser is iterative); Ajv recurses, so only a bounded depth reaches it.
      value = JSON.parse(text);
    } catch {
      return violation('request_body', body.label, 'is not valid JSON');
    }
    const scan = scanJson(text);
    if (scan.tooDeep) return violation('request_body', body.label, `nests deeper than ${MAX_JSON_DEPTH} levels`);
    const ambiguous = body.keys?.duplicate(scan.duplicates) ?? body.keys?.caseCollision(value);
    if (ambiguous) return violation('request_body', body.label, ambiguous.problem, pointer(ambiguous.path));
    if (body.validate(value)) return undefined;
    const e = describeAjvError(body.validate.errors?.[0]);
    return violation('request_body', body.label, e.problem, e.at);
  }
  // formData: urlencoded fields are checked; multipart ones are not parsed (see docs/validation.md).
  if (c.form.length > 0 && (type === undefined || type === 'application/x-www-form-urlencoded')) {
    const fields = parseQuery(empty ? '' : bytes.toString('utf8'));
    return ambiguousParameter(c.form, fields) ?? checkParameters(c.form, (name) => fields.get(name));
  }
  return undefined;
}
