/**
 * `serve --validate report|enforce`: checks each request against its
 * operation's contract before it is forwarded, and each backend response
 * before (enforce) or while (report) it reaches the caller. `report` logs and
 * counts and changes nothing; `enforce` answers 400 for a request and 502 for
 * a response that break the contract. `off` never creates this.
 *
 * The contract is built from the same spec bytes the compiled service came
 * from, once per spec, and looked up by that service's config: a reload that
 * swaps the service swaps the contract with it.
 */
import type { IncomingMessage } from 'node:http';
import { Errors, type GatewayError } from '../errors.ts';
import type { Operation, ServiceConfig } from '../config/types.ts';
import type { Json } from '../config/openapi.ts';
import { readServedDocument } from '../config/service.ts';
import { SpecError } from '../config/problems.ts';
import type { Logger } from '../observability/logger.ts';
import type { ContractHooks } from '../backend/proxy.ts';
import { SpecContract, type OperationContract } from './contract.ts';
import { readBodyForValidation } from './request-body.ts';
import { checkRequest } from './request-check.ts';
import { patternProblems } from './pattern-problems.ts';
import { BodyWatch, checkResponseHead } from './response-check.ts';
import { BODY_LIMIT, requestRefusal, responseRefusal, violation, type ValidateMode, type Violation, type ViolationKind } from './violations.ts';

export type { ValidateMode, ViolationKind };

export interface ViolationCounter {
  contractViolation(operation: string, kind: ViolationKind): void;
}

export interface TrafficValidationOptions {
  readonly mode: 'report' | 'enforce';
  readonly log: Logger;
  /** Read per violation: metrics exist only with --admin-port, and may be made after this. */
  readonly metrics?: () => ViolationCounter | undefined;
  /** --envoy-connection-buffer-limit-bytes: the largest body, either way, read whole to validate (default 1 MiB). */
  readonly bodyLimit?: number | undefined;
}

export interface TrafficValidation {
  readonly mode: 'report' | 'enforce';
  /**
   * Builds the contract of a loaded spec; call before swapping it in. Throws
   * SpecError (refusing the spec, at start or on a reload) for a regex the
   * validator cannot run; a spec it cannot read again is served unchecked, with a warning.
   */
  prepare(service: { readonly config: ServiceConfig; readonly digest?: string }, file: string): Promise<void>;
  /** The pipeline stage, after routing and authentication: undefined to go on, or the refusal (enforce). */
  checkRequest(
    req: IncomingMessage,
    config: ServiceConfig,
    op: Operation,
    rawQuery: string | undefined,
    bindings: ReadonlyArray<readonly [string, string]>,
  ): Promise<GatewayError | undefined>;
  /** What the proxy asks: the body read here, and the response checks. */
  readonly proxy: ContractHooks;
}

const kState = Symbol('contract');

/** What the request stage leaves on the request for the proxy. */
interface RequestState {
  readonly op: Operation;
  readonly contract: OperationContract;
  /** The body read whole for validation, forwarded as is; undefined: the proxy reads it. */
  readonly forward: Buffer | undefined;
}

type Tagged = IncomingMessage & { [kState]?: RequestState };

export function createTrafficValidation(opts: TrafficValidationOptions): TrafficValidation {
  const { mode, log } = opts;
  const bodyLimit = opts.bodyLimit ?? BODY_LIMIT;
  const TOO_LARGE = `larger than ${bodyLimit} bytes, too large to validate`;
  const enforce = mode === 'enforce';
  const metrics = opts.metrics ?? (() => undefined);
  const contracts = new WeakMap<ServiceConfig, SpecContract>();

  const report = (op: Operation, v: Violation, req: IncomingMessage): void => {
    log.warn({ operation: op.id, kind: v.kind, problem: v.problem, mode, requestId: req.gw?.requestId }, 'contract violation');
    metrics()?.contractViolation(op.id, v.kind);
  };
  const settleResponse = (op: Operation, v: Violation, req: IncomingMessage): GatewayError | undefined => {
    report(op, v, req);
    return enforce ? responseRefusal(v) : undefined;
  };

  return {
    mode,

    async prepare(service, file) {
      let doc: Json | undefined;
      try {
        doc = await readServedDocument(file, service.digest);
      } catch (err) {
        log.warn({ file, err: (err as Error).message }, 'traffic is not validated: the spec could not be read again');
        return;
      }
      if (doc === undefined) {
        log.warn({ file }, 'the spec file changed while it was being loaded: traffic is not validated until the next reload');
        return;
      }
      const problems = patternProblems(doc);
      if (problems.length > 0) throw new SpecError(file, problems);
      try {
        const contract = new SpecContract(doc, (op, err) =>
          log.warn({ operation: op.id, err: err.message }, 'traffic to this operation is not validated: its schemas do not compile'),
        );
        contracts.set(service.config, contract);
      } catch (err) {
        log.warn({ file, err: (err as Error).message }, 'traffic is not validated: the spec\'s definitions do not compile');
      }
    },

    async checkRequest(req, config, op, rawQuery, bindings) {
      const contract = contracts.get(config)?.forOperation(op);
      if (!contract) return undefined;
      let body: Buffer | undefined;
      let forward: Buffer | undefined;
      let bodyUnchecked = false;
      if (contract.readsBody) {
        let read;
        try {
          read = await readBodyForValidation(req, bodyLimit);
        } catch {
          // The caller broke off its body: nothing can be forwarded, as the proxy answers then.
          return Errors.badRequest();
        }
        if (read.kind === 'too-large') {
          forward = read.bytes;
          bodyUnchecked = true;
          const v = violation('request_body', 'request body', TOO_LARGE);
          report(op, v, req);
          if (enforce) return requestRefusal(v, true);
        } else if (read.kind === 'whole') {
          body = forward = read.bytes;
        }
      }
      (req as Tagged)[kState] = { op, contract, forward };
      let v: Violation | undefined;
      try {
        v = checkRequest(contract, { rawQuery, headers: req.headers, bindings, body, bodyUnchecked });
      } catch (err) {
        // A validator that fails is a verdict of its own: report passes the request on, enforce refuses it.
        v = violation('request_body', 'request', `could not be validated (${(err as Error).message})`);
      }
      if (v === undefined) return undefined;
      report(op, v, req);
      return enforce ? requestRefusal(v) : undefined;
    },

    proxy: {
      requestBody: (req) => (req as Tagged)[kState]?.forward,
      response(req, status, headers) {
        const s = (req as Tagged)[kState];
        if (s === undefined) return undefined;
        let verdict;
        try {
          verdict = checkResponseHead(s.contract, req.method, status, headers);
        } catch (err) {
          verdict = violation('response_body', 'response', `could not be validated (${(err as Error).message})`);
        }
        if (verdict === undefined) return undefined;
        if ('kind' in verdict) return settleResponse(s.op, verdict, req);
        return new BodyWatch(s.contract, verdict, enforce, (v) => settleResponse(s.op, v, req), bodyLimit);
      },
    },
  };
}
