/**
 * A backend response against its operation's contract: the status is
 * declared (or there is a `default`), the Content-Type is one of `produces`,
 * and a JSON body validates against the declared schema. Status and type are
 * judged on the head; the body by a watch that sees its bytes as they pass
 * (report) or holds them until judged (enforce), up to its limit (--envoy-connection-buffer-limit-bytes, default BODY_LIMIT).
 */
import type { ValidateFunction } from 'ajv';
import type { GatewayError } from '../errors.ts';
import type { ResponseWatch } from '../backend/proxy.ts';
import { describeAjvError, isJsonType, mediaTypeAllowed, mediaTypeOf, type OperationContract } from './contract.ts';
import { MAX_JSON_DEPTH, scanJson } from './json-scan.ts';
import { BODY_LIMIT, quoted, violation, type Violation } from './violations.ts';

type Headers = Record<string, string | string[] | undefined>;

/** What remains to be judged once the body is in. */
export interface BodyPlan {
  /** The schema of a JSON body; null: only the type is left to check. */
  readonly validate: ValidateFunction | null;
  /** No Content-Type on the head although `produces` names some: a violation only if a body follows. */
  readonly untyped: boolean;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function checkResponseHead(c: OperationContract, method: string | undefined, status: number, headers: Headers): Violation | BodyPlan | undefined {
  const r = c.responses.get(status) ?? c.fallback;
  if (r === undefined) {
    const declared = [...c.responses.keys()].join(', ');
    return violation('response_status', `response status ${status}`, `not declared by the operation (declared: ${declared || 'none'})`);
  }
  // These carry no body, whatever the schema says.
  if (status === 204 || status === 304 || method === 'HEAD') return undefined;
  const ct = first(headers['content-type']);
  const length = first(headers['content-length']);
  if (ct === undefined) {
    if (c.produces.length === 0) return undefined;
    if (length === '0') return undefined;
    if (length !== undefined) return untypedBody(c);
    return { validate: null, untyped: true };
  }
  const type = mediaTypeOf(ct);
  if (c.produces.length > 0 && !mediaTypeAllowed(c.produces, type)) {
    return violation('response_content_type', `response Content-Type ${quoted(ct)}`, `not in produces (${c.produces.join(', ')})`);
  }
  if (r.validate === null || !isJsonType(type)) return undefined;
  return { validate: r.validate, untyped: false };
}

function untypedBody(c: OperationContract): Violation {
  return violation('response_content_type', 'response', `has a body but no Content-Type (produces: ${c.produces.join(', ')})`);
}


/**
 * Sees a response body pass. `settle` reports a violation and answers the
 * refusal to send instead (enforce) or undefined (report: the bytes go on).
 */
export class BodyWatch implements ResponseWatch {
  readonly hold: boolean;
  readonly held: Buffer[] = [];
  readonly #plan: BodyPlan;
  readonly #contract: OperationContract;
  readonly #settle: (v: Violation) => GatewayError | undefined;
  readonly #limit: number;
  #size = 0;
  #over = false;

  constructor(contract: OperationContract, plan: BodyPlan, hold: boolean, settle: (v: Violation) => GatewayError | undefined, limit = BODY_LIMIT) {
    this.#limit = limit;
    this.#contract = contract;
    this.#plan = plan;
    this.hold = hold;
    this.#settle = settle;
  }

  data(chunk: Buffer): GatewayError | undefined {
    this.#size += chunk.length;
    // No Content-Type: the first byte is the violation (report still lets it pass, judged at the end).
    if (this.#plan.untyped) return this.hold ? this.#settle(untypedBody(this.#contract)) : undefined;
    if (this.#over) return undefined;
    if (this.#size > this.#limit) {
      this.#over = true;
      this.held.length = 0;
      if (this.hold) return this.#settle(violation('response_body', 'response body', `larger than ${this.#limit} bytes, too large to validate`));
      return undefined;
    }
    this.held.push(chunk);
    return undefined;
  }

  end(): GatewayError | undefined {
    let v: Violation | undefined;
    try {
      v = this.#verdict();
    } catch (err) {
      // Never an exception into the proxy: report lets the response finish, enforce answers 502.
      v = violation('response_body', 'response body', `could not be validated (${(err as Error).message})`);
    }
    // Report kept its copies only to judge them.
    if (!this.hold) this.held.length = 0;
    return v === undefined ? undefined : this.#settle(v);
  }

  #verdict(): Violation | undefined {
    if (this.#plan.untyped) return this.#size > 0 ? untypedBody(this.#contract) : undefined;
    const validate = this.#plan.validate;
    if (validate === null) return undefined;
    if (this.#over) return violation('response_body', 'response body', `larger than ${this.#limit} bytes, too large to validate`);
    const text = Buffer.concat(this.held, this.#size).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return violation('response_body', 'response body', this.#size === 0 ? 'is empty, but the response declares a schema' : 'is not valid JSON');
    }
    // Ajv recurses: a body nested deeper than this is not handed to it.
    if (scanJson(text, { keys: false }).tooDeep) return violation('response_body', 'response body', `nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (validate(value)) return undefined;
    const e = describeAjvError(validate.errors?.[0]);
    return violation('response_body', 'response body', e.problem, e.at);
  }
}
