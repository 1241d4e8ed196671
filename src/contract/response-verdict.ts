/**
 * Judges answers. The positive request's answer is held to the operation's
 * contract by the same checks `serve --validate` applies to traffic (status
 * declared or `default`, Content-Type in `produces`, JSON body valid against
 * the schema), plus: a 5xx is a server error whatever the spec declares.
 * Probes expect ESP's own refusal, `{"code": N, "message": "..."}`, word for word.
 */
import type { Operation } from '../config/types.ts';
import { describeAjvError, type SpecContract } from '../validation/contract.ts';
import { checkResponseHead } from '../validation/response-check.ts';
import type { Answer } from './http.ts';

export type FailureKind = 'server_error' | 'undeclared_status' | 'content_type' | 'schema' | 'security' | 'routing' | 'transport';

export interface Verdict {
  readonly ok: boolean;
  readonly kind?: FailureKind;
  readonly reason?: string;
}

const PASS: Verdict = { ok: true };
const fail = (kind: FailureKind, reason: string): Verdict => ({ ok: false, kind, reason });

function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}

const KINDS: Record<string, FailureKind> = {
  response_status: 'undeclared_status',
  response_content_type: 'content_type',
  response_body: 'schema',
};

export function positiveVerdict(contract: SpecContract, op: Operation, a: Answer): Verdict {
  if (a.status >= 500) return fail('server_error', `server error: status ${a.status}${a.body ? ` (${excerpt(a.body)})` : ''}`);
  const c = contract.forOperation(op);
  if (!c) return PASS; // nothing to hold it to (a schema the validator could not compile is reported by it)
  const head = checkResponseHead(c, op.method, a.status, a.headers);
  if (head === undefined) return PASS;
  if ('kind' in head) return fail(KINDS[head.kind] ?? 'schema', head.problem);
  if (head.untyped) return a.body.length > 0 ? fail('content_type', `response has a body but no Content-Type (produces: ${c.produces.join(', ')})`) : PASS;
  if (head.validate === null) return PASS;
  if (a.truncated) return fail('schema', 'response body too large to validate');
  let value: unknown;
  try {
    value = JSON.parse(a.body);
  } catch {
    return fail('schema', `response body is not JSON although its Content-Type says so: ${excerpt(a.body) || '(empty)'}`);
  }
  if (head.validate(value)) return PASS;
  const e = describeAjvError(head.validate.errors?.[0] ?? undefined);
  return fail('schema', `response body${e.at ? ` at ${e.at}` : ''}: ${e.problem}`);
}

/** The answer is exactly ESP's refusal: this status and `{"code": status, "message": <one of messages>}`. */
export function refusalVerdict(kind: FailureKind, a: Answer, status: number, messages: readonly string[]): Verdict {
  const expected = `${status} ${JSON.stringify(messages.length === 1 ? messages[0] : messages)}`;
  if (a.status !== status) return fail(kind, `expected ${expected}, got ${a.status}${a.body ? ` ${excerpt(a.body)}` : ''}`);
  let body: { code?: unknown; message?: unknown };
  try {
    body = JSON.parse(a.body) as typeof body;
  } catch {
    return fail(kind, `expected ESP's JSON body {"code":${status},"message":...}, got ${excerpt(a.body) || '(empty)'}`);
  }
  if (body.code !== status || typeof body.message !== 'string' || !messages.includes(body.message)) {
    return fail(kind, `expected ${expected}, got ${a.status} ${excerpt(a.body)}`);
  }
  return PASS;
}

/** An open operation is not refused for want of credentials. */
export function openVerdict(a: Answer): Verdict {
  if (a.status === 401 || a.status === 403) return fail('security', `open operation refused without credentials: ${a.status} ${excerpt(a.body)}`);
  return PASS;
}
