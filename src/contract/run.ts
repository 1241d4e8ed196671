/**
 * `contract`: every check for every operation, one after the other (the
 * order is the spec's, so two runs read the same), each with the request that
 * was sent, kept for the report's `curl` line.
 */
import { randomBytes } from 'node:crypto';
import { EspMessages } from '../errors.ts';
import { JwtMessages } from '../auth/jwt/errors.ts';
import { SpecContract } from '../validation/contract.ts';
import { invalidKey, tokenFromUnknownSigner, withCredentials, withJwt, withKey, type Credentials } from './credentials.ts';
import { send, type Answer } from './http.ts';
import { plannedRequest, type PlannedRequest } from './request.ts';
import { openVerdict, positiveVerdict, refusalVerdict, type FailureKind, type Verdict } from './response-verdict.ts';
import { SampleGenerator } from './sample.ts';
import type { SpecModel, SpecOperation } from './spec-model.ts';

export interface CheckResult {
  /** The operationId, or `routing` for the API-wide probes. */
  readonly operation: string;
  readonly check: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  readonly kind?: FailureKind;
  /** Why it failed or was skipped. */
  readonly reason?: string;
  readonly request?: PlannedRequest;
  readonly status?: number;
  readonly ms: number;
}

export interface RunOptions extends Credentials {
  readonly url: string;
  /** Only these operationIds (all when empty). */
  readonly operations: readonly string[];
  readonly timeoutMs: number;
}

const JWT_REFUSALS = [JwtMessages.kidAlgMismatch, JwtMessages.verificationFails, JwtMessages.jwksFetchFailed, JwtMessages.unknownIssuer];

export async function runContract(model: SpecModel, opts: RunOptions): Promise<CheckResult[]> {
  const contract = new SpecContract(model.doc, () => {});
  const gen = new SampleGenerator(model.doc, 'request');
  const results: CheckResult[] = [];
  const wanted = new Set(opts.operations);
  const selected = model.operations.filter((o) => wanted.size === 0 || wanted.has(o.op.id));

  const exchange = async (
    operation: string,
    check: string,
    req: PlannedRequest,
    judge: (a: Answer) => Verdict | Promise<Verdict>,
  ): Promise<void> => {
    const start = performance.now();
    let verdict: Verdict;
    let status: number | undefined;
    try {
      const a = await send(opts.url, req, opts.timeoutMs);
      status = a.status;
      verdict = await judge(a);
    } catch (err) {
      verdict = { ok: false, kind: 'transport', reason: `no answer: ${(err as Error).message}` };
    }
    results.push({
      operation,
      check,
      outcome: verdict.ok ? 'pass' : 'fail',
      ...(verdict.kind ? { kind: verdict.kind } : {}),
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      request: req,
      ...(status !== undefined ? { status } : {}),
      ms: performance.now() - start,
    });
  };
  const skip = (operation: string, check: string, reason: string) => results.push({ operation, check, outcome: 'skip', reason, ms: 0 });

  for (const o of selected) await operationChecks(o, gen, opts, contract, exchange, skip);
  if (wanted.size === 0) await routingChecks(model, gen, exchange, skip);
  return results;
}

type Exchange = (operation: string, check: string, req: PlannedRequest, judge: (a: Answer) => Verdict | Promise<Verdict>) => Promise<void>;
type Skip = (operation: string, check: string, reason: string) => void;

async function operationChecks(o: SpecOperation, gen: SampleGenerator, opts: RunOptions, contract: SpecContract, exchange: Exchange, skip: Skip): Promise<void> {
  const op = o.op;
  const sec = op.security;
  const base = plannedRequest(o, gen);
  const missingKey = sec.apiKeyRequired && !opts.key;
  const missingJwt = sec.jwtRequired && !opts.jwt;

  // Positive: the credentials the operation asks for; the answer must keep the contract.
  if (missingKey || missingJwt) skip(op.id, 'positive', `needs ${missingKey ? '--key' : ''}${missingKey && missingJwt ? ' and ' : ''}${missingJwt ? '--jwt' : ''}`);
  else await exchange(op.id, 'positive', withCredentials(base, op, opts), (a) => positiveVerdict(contract, op, a));

  // No credentials at all: JWT is checked before the key (ESPv2's filter order).
  if (sec.jwtRequired) {
    await exchange(op.id, 'security: no credentials', base, (a) => refusalVerdict('security', a, 401, [JwtMessages.missing]));
  } else if (sec.apiKeyRequired) {
    await exchange(op.id, 'security: no credentials', base, (a) => refusalVerdict('security', a, 401, [EspMessages.missingApiKey]));
  } else {
    await exchange(op.id, 'security: open operation', base, openVerdict);
  }

  if (sec.apiKeyRequired) {
    if (missingJwt) skip(op.id, 'security: invalid key', 'needs --jwt (the token is checked before the key)');
    else {
      const withToken = opts.jwt && sec.jwtSchemes.length > 0 ? withJwt(base, op, opts.jwt) : base;
      await exchange(op.id, 'security: invalid key', withKey(withToken, op, invalidKey()), (a) =>
        refusalVerdict('security', a, 400, [EspMessages.apiKeyInvalid]),
      );
      // With a valid token but no key, the key check alone must refuse.
      if (sec.jwtRequired) {
        await exchange(op.id, 'security: no key', withToken, (a) => refusalVerdict('security', a, 401, [EspMessages.missingApiKey]));
      }
    }
  }

  const scheme = sec.jwtSchemes[0];
  if (sec.jwtRequired && scheme) {
    const keyed = opts.key && sec.apiKeyRequired ? withKey(base, op, opts.key) : base;
    if (opts.key || !sec.apiKeyRequired) {
      await exchange(op.id, 'security: no JWT', keyed, (a) => refusalVerdict('security', a, 401, [JwtMessages.missing]));
    }
    const forged = await tokenFromUnknownSigner(scheme);
    await exchange(op.id, 'security: unknown JWT signer', withJwt(keyed, op, forged), (a) => refusalVerdict('security', a, 401, JWT_REFUSALS));
  }
}

const PROBE_METHODS = ['PATCH', 'PUT', 'DELETE', 'POST', 'GET'] as const;

/** ESP's 404 for a path the spec does not define, and its 405 for an undeclared method on each template. */
async function routingChecks(model: SpecModel, gen: SampleGenerator, exchange: Exchange, skip: Skip): Promise<void> {
  const { router, config } = model;
  const prefix = config.basePath === '/' ? '' : config.basePath.replace(/\/+$/, '');
  const undefinedCheck = 'undefined path → 404';
  if (config.allowAll) skip('routing', undefinedCheck, 'x-google-allow: all forwards every path');
  else {
    const tag = randomBytes(4).toString('hex');
    const path = [`${prefix}/endpoints-gateway-contract-${tag}/undefined`, `/endpoints-gateway-contract-${tag}`].find((p) =>
      PROBE_METHODS.every((m) => router.match(m, p).kind === 'not-found'),
    );
    if (!path) skip('routing', undefinedCheck, 'the spec defines every path (a wildcard template)');
    else await exchange('routing', undefinedCheck, { method: 'GET', path, query: [], headers: {} }, (a) => refusalVerdict('routing', a, 404, [EspMessages.notDefined]));
  }

  const seen = new Set<string>();
  for (const o of model.operations) {
    const template = o.op.template;
    if (seen.has(template)) continue;
    seen.add(template);
    const check = `undeclared method on ${template} → 405`;
    const { path } = plannedRequest(o, gen);
    const found = PROBE_METHODS.map((method) => ({ method, m: router.match(method, path) })).find(({ m }) => m.kind === 'method-not-allowed');
    if (!found || found.m.kind !== 'method-not-allowed') {
      skip('routing', check, 'every probed method is served on this path');
      continue;
    }
    const expected = EspMessages.methodNotAllowed(found.m.template);
    await exchange('routing', check, { method: found.method, path, query: [], headers: {} }, (a) => refusalVerdict('routing', a, 405, [expected]));
  }
}
