/**
 * Fixed headers set or appended on backend requests and client responses
 * (ESPv2 --add_request_header, --append_request_header, --add_response_header,
 * --append_response_header), and X-Endpoint-Api-Operation-Name naming the
 * matched operation for the backend (--enable_operation_name_header). Parsed
 * and checked once at start; applied with no parsing per request.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { Operation } from '../config/types.ts';

/** ESPv2's header name (its route config: GeneratedHeaderPrefix "X-Endpoint-" + "Api-Operation-Name"). */
export const OPERATION_NAME_HEADER = 'x-endpoint-api-operation-name';

export interface HeaderRule {
  /** Lower case, as Node keeps header names. */
  readonly name: string;
  readonly value: string;
  /** true: another value next to the one sent; false: this value replaces it. */
  readonly append: boolean;
}

export interface HeaderRuleFlags {
  readonly addRequest?: readonly string[] | undefined;
  readonly appendRequest?: readonly string[] | undefined;
  readonly addResponse?: readonly string[] | undefined;
  readonly appendResponse?: readonly string[] | undefined;
  readonly operationName?: boolean | undefined;
}

type Headers = Record<string, string | string[] | undefined>;

export interface HeaderRules {
  request(headers: IncomingHttpHeaders, op: Operation | undefined): void;
  response(headers: Headers): void;
}

/**
 * One flag value as ESPv2's config generator reads it: `KEY=VALUE`, several
 * joined by `;`, exactly one `=` each, a non-empty key, an empty value
 * allowed. Throws with ESPv2's own message, or Node's for a name or value
 * HTTP cannot carry.
 */
export function parseHeaderRules(flag: string, append: boolean): HeaderRule[] {
  const out: HeaderRule[] = [];
  for (const h of flag.split(';')) {
    if (h === '') continue;
    const kv = h.split('=');
    if (kv.length !== 2) throw new Error(`invalid header: ${h}. should be in key=value format.`);
    const [name, value] = kv as [string, string];
    if (name === '') throw new Error(`header key should not be empty for: ${h}.`);
    validateHeaderName(name);
    validateHeaderValue(name, value);
    out.push({ name: name.toLowerCase(), value, append });
  }
  return out;
}

function apply(headers: Headers, rules: readonly HeaderRule[]): void {
  for (const r of rules) {
    const had = headers[r.name];
    if (!r.append || had === undefined) headers[r.name] = r.value;
    else headers[r.name] = [...[had].flat(), r.value];
  }
}

/** The rules of these flags, or undefined when none is set (nothing runs per request). */
export function createHeaderRules(flags: HeaderRuleFlags): HeaderRules | undefined {
  const parse = (values: readonly string[] | undefined, append: boolean) => (values ?? []).flatMap((v) => parseHeaderRules(v, append));
  // Envoy's order: the replacing rules, then the appending ones.
  const request = [...parse(flags.addRequest, false), ...parse(flags.appendRequest, true)];
  const response = [...parse(flags.addResponse, false), ...parse(flags.appendResponse, true)];
  const operationName = flags.operationName === true;
  if (request.length === 0 && response.length === 0 && !operationName) return undefined;
  return {
    request(headers, op) {
      // Replaces any value the caller sent: the backend can trust it names the route taken.
      if (operationName && op !== undefined) headers[OPERATION_NAME_HEADER] = op.selector;
      if (request.length > 0) apply(headers as Headers, request);
    },
    response(headers) {
      if (response.length > 0) apply(headers, response);
    },
  };
}
