/**
 * What a broken contract looks like to the caller (ESP's JSON form), in the
 * logs and in metrics. One wording everywhere: `<where>: <problem>`, where
 * names the parameter or the part of the response.
 */
import { GatewayError } from '../errors.ts';

/** The metric's `kind` label: a fixed set. */
export type ViolationKind = 'request_parameter' | 'request_body' | 'response_status' | 'response_content_type' | 'response_body';

export interface Violation {
  readonly kind: ViolationKind;
  /** e.g. `query parameter 'limit': must be integer`. */
  readonly problem: string;
}

export type ValidateMode = 'off' | 'report' | 'enforce';

/** Bodies (requests and responses) are checked up to this size; larger ones are "too large to validate". */
export const BODY_LIMIT = 1024 * 1024;

/** A sent value quoted in a problem (only media types are): short, whatever was sent. */
export function quoted(value: string): string {
  return `'${value.length > 100 ? `${value.slice(0, 100)}...` : value}'`;
}

export function violation(kind: ViolationKind, where: string, problem: string, at = ''): Violation {
  return { kind, problem: `${where}${at ? ` at ${at}` : ''}: ${problem}` };
}

/** `enforce` on a request: 400, never forwarded (413 for a body too large to check). */
export function requestRefusal(v: Violation, tooLarge = false): GatewayError {
  return tooLarge
    ? new GatewayError(413, `INVALID_ARGUMENT: ${v.problem}`, 'contract_request_too_large')
    : new GatewayError(400, `INVALID_ARGUMENT: ${v.problem}`, 'contract_request');
}

/** `enforce` on a response: 502 instead of what the backend sent. */
export function responseRefusal(v: Violation): GatewayError {
  return new GatewayError(502, `BAD_GATEWAY: ${v.problem}`, 'contract_response');
}
