/**
 * The gateway's per-person extensions, read and checked in one place:
 * `x-endpoints-quota` (Google's `quota` block, counted per end user or per
 * claim value: esp-v2#407 asks for it, ESPv2 has no plan) and
 * `x-endpoints-claim-headers` (verified claims sent upstream as headers, as
 * Pomerium's jwt_claims_headers and oauth2-proxy's X-Auth-Request-*).
 */
import { parseQuotaUnit } from '../quota/units.ts';
import { arr, isObject, obj, operationsOf, type Json } from './openapi.ts';
import { shown, where, type SpecProblem } from './problems.ts';
import type { ClaimHeaders, QuotaLimit } from './types.ts';

export const PERSON_QUOTA = 'x-endpoints-quota';
export const CLAIM_HEADERS = 'x-endpoints-claim-headers';

/** RFC 9110 token: a header name a proxy will pass on. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

/**
 * Names a claim may never be written to: the message framing, the caller's
 * own credentials, and the headers the gateway itself sets or trusts.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host', 'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'content-length', 'content-type', 'content-encoding',
  'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'forwarded', 'via',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-method', 'x-forwarded-uri', 'x-original-url',
  'x-forwarded-authorization', 'x-serverless-authorization', 'x-http-method-override', 'x-request-id', 'traceparent', 'tracestate',
  'x-cloud-trace-context', 'x-endpoint-api-userinfo', 'x-endpoint-api-consumer-type', 'x-endpoint-api-consumer-number',
  'x-endpoints-gateway-assertion', 'x-api-key',
]);

/**
 * The limits of a Google-shaped `quota.limits` list: `x-google-management.quota` (personal units
 * refused there) or `x-endpoints-quota` (personal units allowed). Entries were checked already
 * (validateSpec, personExtensionProblems); a bad one is skipped.
 */
export function quotaLimitsOf(block: unknown, personal: boolean): QuotaLimit[] {
  const limits: QuotaLimit[] = [];
  for (const raw of arr(obj(block).limits)) {
    const l = obj(raw);
    const unit = parseQuotaUnit(String(l.unit), personal);
    if ('error' in unit) continue;
    limits.push({
      name: String(l.name),
      metric: String(l.metric),
      unit: String(l.unit),
      window: unit.window,
      windowSeconds: unit.windowSeconds,
      per: unit.per,
      ...(unit.claim !== undefined ? { claim: unit.claim } : {}),
      limit: Number(obj(l.values).STANDARD),
      ...(personal ? { declaredIn: PERSON_QUOTA } : {}),
    });
  }
  return limits;
}

/** The limits of `x-endpoints-quota`. */
export function personQuotaLimits(api: Json): QuotaLimit[] {
  return quotaLimitsOf(api[PERSON_QUOTA], true);
}

/** [claim, lower-case header] pairs of one declaration, in the order written; bad entries skipped. */
function pairsOf(block: unknown): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [claim, header] of Object.entries(obj(block))) {
    if (typeof header === 'string' && HEADER_NAME.test(header) && !RESERVED_HEADERS.has(header.toLowerCase())) pairs.push([claim, header.toLowerCase()]);
  }
  return pairs;
}

/**
 * Each operation's claim headers, keyed by `<method> <path>` as written: the
 * operation's block replaces the top level's. null when the spec declares
 * none anywhere (the request path then does nothing at all).
 */
export function claimHeadersOf(api: Json): { forOperation(path: string, method: string): ClaimHeaders | null } {
  const top = api[CLAIM_HEADERS] !== undefined ? pairsOf(api[CLAIM_HEADERS]) : [];
  const names = new Set(top.map(([, h]) => h));
  for (const { op } of operationsOf(api)) if (op[CLAIM_HEADERS] !== undefined) for (const [, h] of pairsOf(op[CLAIM_HEADERS])) names.add(h);
  if (names.size === 0) return { forOperation: () => null };
  const strip = [...names];
  return {
    forOperation(path, method) {
      const own = obj(obj(obj(api.paths)[path])[method])[CLAIM_HEADERS];
      return { set: own !== undefined ? pairsOf(own) : top, strip };
    },
  };
}

function claimHeaderProblems(block: unknown, at: readonly (string | number)[], out: SpecProblem[]): void {
  if (!isObject(block)) {
    out.push({ where: where(...at), message: `must be a map of claim name to header name (e.g. {email: X-Endpoint-Claim-Email}); got ${shown(block)}` });
    return;
  }
  const seen = new Map<string, string>();
  for (const [claim, header] of Object.entries(block)) {
    const place = where(...at, claim);
    if (claim === '') out.push({ where: place, message: 'names an empty claim' });
    if (typeof header !== 'string' || !HEADER_NAME.test(header)) {
      out.push({ where: place, message: `must be an HTTP header name (letters, digits and !#$%&'*+.^_\`|~-, at most 128); got ${shown(header)}` });
      continue;
    }
    const lower = header.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) out.push({ where: place, message: `${shown(header)} is a header the gateway, the caller's credentials or HTTP itself own; choose another name (e.g. X-Endpoint-Claim-${claim})` });
    const prior = seen.get(lower);
    if (prior !== undefined) out.push({ where: place, message: `${shown(header)} is already the header of the claim ${shown(prior)}` });
    else seen.set(lower, claim);
  }
}

/** Problems of both extensions. */
export function personExtensionProblems(api: Json): SpecProblem[] {
  // Read here, not from the checked block: a problem there must not add a false one here.
  const metrics = new Set(arr(obj(api['x-google-management']).metrics).map((m) => String(obj(m).name)));
  // One name, one set of counters: a per-person limit never shares a Google limit's.
  const googleNames = new Set(arr(obj(obj(api['x-google-management']).quota).limits).map((l) => String(obj(l).name)));
  const out: SpecProblem[] = [];
  const quota = api[PERSON_QUOTA];
  if (quota !== undefined) {
    if (!isObject(quota) || !Array.isArray(quota.limits)) {
      out.push({ where: PERSON_QUOTA, message: "must be a quota block like Google's: {limits: [{name, metric, unit: '1/min/{user}', values: {STANDARD: N}}]}" });
    } else {
      const names = new Set<string>();
      quota.limits.forEach((raw, i) => {
        const at = [PERSON_QUOTA, 'limits', i];
        const l = obj(raw);
        if (typeof l.name !== 'string' || l.name === '') out.push({ where: where(...at, 'name'), message: `must be a non-empty string; got ${shown(l.name)}` });
        else if (names.has(l.name) || googleNames.has(l.name)) out.push({ where: where(...at, 'name'), message: `duplicates the limit name ${shown(l.name)}` });
        else names.add(l.name);
        if (!metrics.has(String(l.metric))) out.push({ where: where(...at, 'metric'), message: `names the metric ${shown(l.metric)}, which x-google-management.metrics does not define` });
        const unit = parseQuotaUnit(String(l.unit), true);
        if ('error' in unit) out.push({ where: where(...at, 'unit'), message: `${unit.error} (got ${shown(l.unit)})` });
        const n = obj(l.values).STANDARD;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) out.push({ where: where(...at, 'values', 'STANDARD'), message: `must be a non-negative whole number; got ${shown(n)}` });
      });
    }
  }
  if (api[CLAIM_HEADERS] !== undefined) claimHeaderProblems(api[CLAIM_HEADERS], [CLAIM_HEADERS], out);
  for (const { path, method, op } of operationsOf(api)) {
    if (op[CLAIM_HEADERS] !== undefined) claimHeaderProblems(op[CLAIM_HEADERS], ['paths', path, method, CLAIM_HEADERS], out);
  }
  return out;
}
