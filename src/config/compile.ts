import { parseTemplate, patternKey } from '../routing/template.ts';
import { Router } from '../routing/router.ts';
import { backendRule, localBackendRule } from './backend-rule.ts';
import { overriddenRule, overrideTarget } from '../backend/address-override.ts';
import { arr, fullTemplate, obj, operationsOf, type Json } from './openapi.ts';
import { where, type SpecProblem } from './problems.ts';
import { warningsOf } from './spec-warnings.ts';
import { compileRequirement, compileSchemes } from './security.ts';
import { bindAuthorization, compileAuthorization } from './authorization.ts';
import type { BackendRule, MetricCost, Operation, QuotaLimit, ServiceConfig } from './types.ts';
import { missingServiceNameProblem } from './service-name.ts';
import { claimHeadersOf, personQuotaLimits, quotaLimitsOf } from './person-extensions.ts';

export interface CompileOptions {
  /** --service-name / $ENDPOINTS_SERVICE_NAME; falls back to the spec's `host`. */
  readonly serviceName?: string;
  /** The producer project; derived from `<api>.endpoints.<project>.cloud.goog` when absent. */
  readonly producerProject?: string;
  /** ESPv2's --backend: where operations without an address go (default http://127.0.0.1:8082). */
  readonly localBackend?: string;
  /** --backend-address-override (ESPv2 --enable_backend_address_override): every operation goes here, path translation off. */
  readonly backendAddressOverride?: string;
  /** ESPv2 --disallow_colon_in_wildcard_path_segment (src/routing/router.ts). */
  readonly disallowColonInWildcard?: boolean;
}

export interface CompiledService {
  readonly config: ServiceConfig;
  readonly router: Router<Operation>;
}

/**
 * The route table of an already compiled config (one that came from a spec
 * loading worker as plain data), built in slices that yield to the event loop
 * so a large spec never stalls requests being served meanwhile.
 */
export async function routerOf(operations: readonly Operation[], opts: CompileOptions = {}, slice = 2000): Promise<Router<Operation>> {
  const router = new Router<Operation>({ disallowColonInWildcard: opts.disallowColonInWildcard === true });
  for (let i = 0; i < operations.length; i++) {
    if (i > 0 && i % slice === 0) await new Promise((r) => setImmediate(r));
    const op = operations[i]!;
    router.add(op.method, parseTemplate(op.template), op);
  }
  return router;
}

/** Methods ESP's compiler adds on `/**` for `x-google-allow: all` (reference 3.4). */
const ALLOW_ALL_METHODS = ['GET', 'DELETE', 'PATCH', 'POST', 'PUT'] as const;

export class CompileError extends Error {
  readonly problems: readonly SpecProblem[];
  constructor(problems: readonly SpecProblem[]) {
    super(problems.map((p) => `${p.where}: ${p.message}`).join('; '));
    this.problems = problems;
  }
}

function producerFrom(serviceName: string): string {
  const m = /\.endpoints\.([a-z][a-z0-9-]{4,28}[a-z0-9])\.cloud\.goog$/.exec(serviceName);
  return m?.[1] ?? '';
}

/** The names a service answers for when several share a gateway: its `host` and its x-google-endpoints names, lower case. */
function hostNamesOf(api: Json): string[] {
  const names = new Set<string>();
  if (typeof api.host === 'string' && api.host !== '') names.add(api.host.toLowerCase());
  for (const e of arr(api['x-google-endpoints'])) {
    const name = obj(e).name;
    if (typeof name === 'string' && name !== '') names.add(name.toLowerCase());
  }
  return [...names];
}

/**
 * Compiles a validated, dereferenced document into the plain data the request
 * path reads, and the route table. Runs once per spec (and per reload).
 */
export function compileSpec(api: Json, opts: CompileOptions = {}): CompiledService {
  const problems: SpecProblem[] = [];
  const serviceName = opts.serviceName || (typeof api.host === 'string' ? api.host : '');
  const unnamed = missingServiceNameProblem(api, serviceName);
  if (unnamed) problems.push(unnamed);

  const local = localBackendRule(opts.localBackend ?? 'http://127.0.0.1:8082');
  if ('error' in local) throw new CompileError([{ where: '--backend', message: local.error }]);
  const override = opts.backendAddressOverride === undefined ? undefined : overrideTarget(opts.backendAddressOverride);
  if (override && 'error' in override) throw new CompileError([{ where: '--backend-address-override', message: override.error }]);

  let topBackend: BackendRule = local;
  if (api['x-google-backend'] !== undefined) {
    const r = backendRule(obj(api['x-google-backend']), 'top', local, 'x-google-backend');
    if ('error' in r) problems.push({ where: where('x-google-backend', 'address'), message: r.error });
    else topBackend = r;
  }

  const schemes = compileSchemes(obj(api.securityDefinitions), serviceName);
  const topAuthorization = compileAuthorization(api['x-endpoints-authorization']);
  const limits: QuotaLimit[] = quotaLimitsOf(obj(api['x-google-management']).quota, false);
  limits.push(...personQuotaLimits(api));
  const claimHeaders = claimHeadersOf(api);

  const router = new Router<Operation>({ disallowColonInWildcard: opts.disallowColonInWildcard === true });
  const operations: Operation[] = [];
  const add = (compiled: Operation) => {
    const op = override ? { ...compiled, backend: overriddenRule(compiled.backend, override) } : compiled;
    try {
      router.add(op.method, parseTemplate(op.template), op);
      operations.push(op);
    } catch (err) {
      problems.push({ where: where('paths', op.template), message: (err as Error).message });
    }
  };

  for (const { path, method, op } of operationsOf(api)) {
    const template = fullTemplate(api.basePath, path);
    const id = typeof op.operationId === 'string' && op.operationId ? op.operationId : `${method.toUpperCase()} ${template}`;
    let backend = topBackend;
    if (op['x-google-backend'] !== undefined) {
      const r = backendRule(obj(op['x-google-backend']), 'operation', local, where('paths', path, method, 'x-google-backend'));
      if ('error' in r) {
        problems.push({ where: where('paths', path, method, 'x-google-backend', 'address'), message: r.error });
        continue;
      }
      backend = r;
    }
    const security = compileRequirement(op.security !== undefined ? op.security : api.security, schemes);
    const metricCosts: MetricCost[] = Object.entries(obj(obj(op['x-google-quota']).metricCosts))
      .map(([metric, cost]) => ({ metric, cost: Number(cost) }))
      .filter((c) => c.cost > 0)
      .sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0));
    add({
      id,
      selector: `${serviceName}.${id}`,
      method: method.toUpperCase(),
      template,
      backend,
      security,
      allowUnregistered: !security.apiKeyRequired,
      metricCosts,
      autogenerated: false,
      // The operation's block replaces the top level's; its token parts bind only where a JWT can be verified.
      authorization: bindAuthorization(
        op['x-endpoints-authorization'] !== undefined ? compileAuthorization(op['x-endpoints-authorization']) : topAuthorization,
        security.jwtSchemes.length > 0 || Boolean(security.signin),
      ),
      claimHeaders: claimHeaders.forOperation(path, method),
      maxRequestBodyBytes: bodyLimitOf(op) ?? bodyLimitOf(api),
    });
  }

  const allowAll = api['x-google-allow'] === 'all';
  if (allowAll) {
    const template = fullTemplate(api.basePath, '/**');
    const taken = new Set(operations.filter((o) => o.template === template).map((o) => o.method));
    const open = compileRequirement([], schemes);
    for (const method of ALLOW_ALL_METHODS) {
      if (taken.has(method)) continue;
      const id = `Google_Autogenerated_Unrecognized_${method[0]}${method.slice(1).toLowerCase()}_Method_Call`;
      add({
        id,
        selector: `${serviceName}.${id}`,
        method,
        template,
        // Unregistered calls always append their path, whatever the top-level block says.
        backend: { ...topBackend, translation: 'APPEND_PATH_TO_ADDRESS' },
        security: open,
        allowUnregistered: true,
        metricCosts: [],
        autogenerated: true,
        authorization: null,
      });
    }
  }

  // x-google-endpoints `allowCors: true` on this service: every path pattern without
  // an OPTIONS operation gets one, open and forwarded like its first operation, so
  // the backend answers browsers' CORS preflights (ESPv2). After x-google-allow's
  // `/**` methods, which get theirs too (ESPv2's OPTIONS on unregistered paths);
  // one per pattern, however many parameter names spell it (`/a/{id}`, `/a/{name}`).
  const allowCors = arr(api['x-google-endpoints']).some((e) => obj(e).allowCors === true && obj(e).name === serviceName);
  if (allowCors) {
    const byPattern = new Map<string, Operation[]>();
    for (const o of operations) {
      const key = patternKey(parseTemplate(o.template));
      const list = byPattern.get(key);
      if (list) list.push(o);
      else byPattern.set(key, [o]);
    }
    const open = compileRequirement([], schemes);
    for (const ops of byPattern.values()) {
      if (ops.some((o) => o.method === 'OPTIONS')) continue;
      const first = ops[0]!;
      const id = `ESPv2_Autogenerated_CORS_${first.id}`;
      add({
        id,
        selector: `${serviceName}.${id}`,
        method: 'OPTIONS',
        template: first.template,
        backend: first.backend,
        security: open,
        allowUnregistered: true,
        metricCosts: [],
        autogenerated: true,
        authorization: null,
      });
    }
  }

  if (problems.length > 0) throw new CompileError(problems);
  const audiences = [...new Set(operations.map((o) => o.backend.audience).filter((a): a is string => !!a))];
  const config: ServiceConfig = {
    serviceName,
    version: typeof obj(api.info).version === 'string' ? String(obj(api.info).version) : '',
    producerProject: opts.producerProject ?? producerFrom(serviceName),
    basePath: typeof api.basePath === 'string' ? api.basePath : '/',
    allowAll,
    allowCors,
    warnings: warningsOf(api),
    operations,
    quotaLimits: limits,
    audiences,
    signin: operations.find((o) => o.security.signin)?.security.signin ?? null,
    hostNames: hostNamesOf(api),
  };
  return { config, router };
}

/** `x-endpoints-max-request-body-bytes` of an operation or the spec (checked by validateSpec: a whole number ≥ 0). */
export const BODY_LIMIT_EXTENSION = 'x-endpoints-max-request-body-bytes';
function bodyLimitOf(o: Json): number | undefined {
  const v = o[BODY_LIMIT_EXTENSION];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
