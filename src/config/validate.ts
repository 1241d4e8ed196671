import { SwaggerParser, type SwaggerParserOptions } from './swagger-parser.ts';
import * as extensions from './extension-validators.generated.ts';
import { swagger2 } from './swagger2-validator.generated.ts';
import { parseTemplate, TemplateError } from '../routing/template.ts';
import { parseQuotaUnit } from '../quota/units.ts';
import { arr, fullTemplate, HTTP_METHODS, isObject, obj, operationsOf, type Json } from './openapi.ts';
import { shown, where, type SpecProblem } from './problems.ts';
import { schemaProblems, type SchemaErrorLike } from './schema-errors.ts';
import { refExpansionProblems } from './ref-expansion.ts';
import { danglingRefs } from './dangling-refs.ts';
import { extensionNameFindings } from './extension-names.ts';
import { personExtensionProblems } from './person-extensions.ts';
import { withWarnings } from './spec-warnings.ts';
import { signinProblems } from '../signin/config.ts';
import { locatedSwaggerProblem, missingPathParameterProblems, withPathParametersRepaired } from './path-parameters.ts';

type ExtensionKind = 'backend' | 'allow' | 'management' | 'quota' | 'endpoints' | 'jwtSecurityDefinition' | 'authorization';
/** A precompiled validator (Ajv standalone): its errors are left on the function, as Ajv's are. */
type Validator = ((value: unknown) => boolean) & { errors?: SchemaErrorLike[] | null };
// Generated from openapi/x-google-extensions.schema.json (scripts/gen-schema-validators.ts): nothing to compile at start.
const extensionValidators = extensions as unknown as Record<ExtensionKind, Validator>;

function checkExtension(kind: ExtensionKind, value: unknown, at: readonly (string | number)[], out: SpecProblem[]): boolean {
  const v = extensionValidators[kind];
  if (v(value)) return true;
  out.push(...schemaProblems((v.errors ?? []) as SchemaErrorLike[], value, at));
  return false;
}

/**
 * Rewrites Google path templates (`{name=**}`, unnamed `*`, `:verb`) into the
 * plain `{name}` form swagger-parser's spec checks understand, so its checks
 * (parameters, duplicates, bodies) still run on Google-flavoured specs.
 */
function plainTemplates(doc: Json): Json {
  const paths: Json = {};
  let n = 0;
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    const plain = path
      .replace(/\{([^}=]+)=[^}]*\}/g, '{$1}')
      .replace(/(^|\/)\*\*?(?=\/|$|:)/g, () => `$1__wildcard${n++}`)
      .replace(/:[^/{}]*$/, '');
    paths[plain in paths ? `${plain}__dup${n++}` : plain] = withoutOperationIds(item);
  }
  return { ...doc, paths };
}

/**
 * swagger-parser looks each operationId up in an array of all earlier ones
 * (50,000 operations: about 20 s); validateSpec checks them with a Set instead,
 * so its copy for swagger-parser carries none.
 */
function withoutOperationIds(item: unknown): unknown {
  if (!isObject(item)) return item;
  const out: Json = { ...item };
  for (const m of HTTP_METHODS) {
    const op = out[m];
    if (isObject(op) && 'operationId' in op) {
      const { operationId: _, ...rest } = op;
      out[m] = rest;
    }
  }
  return out;
}

/**
 * The document checked against the Swagger 2.0 schema, every error reported, then dereferenced:
 * what swagger-parser's own schema check does, but with the schema precompiled
 * (swagger2-validator.generated.ts) instead of compiled by swagger-parser on every call.
 */
async function swaggerSchemaProblems(doc: Json): Promise<{ api: Json | undefined; problems: SpecProblem[] }> {
  try {
    // As swagger-parser does before its schema check: circular $refs stay $refs until the schema passed.
    const parser = new SwaggerParser();
    const opts = { resolve: { external: false }, validate: { schema: false, spec: false } };
    let api = (await parser.validate(structuredClone(doc) as never, { ...opts, dereference: { circular: 'ignore' } } as SwaggerParserOptions)) as unknown as Json;
    if (!swagger2(api)) return { api: undefined, problems: schemaProblems((swagger2 as Validator).errors ?? [], doc) };
    // Circular $refs: dereferenced in full now (a cyclic document, as swagger-parser gives it).
    if (parser.$refs.circular) api = (await SwaggerParser.validate(structuredClone(doc) as never, opts as SwaggerParserOptions)) as unknown as Json;
    return { api, problems: [] };
  } catch (err) {
    return { api: undefined, problems: [{ where: '', message: firstLine((err as Error).message) }] };
  }
}

function firstLine(msg: unknown): string {
  return String(msg ?? 'invalid').split('\n')[0] ?? 'invalid';
}

/** swagger-parser's semantic checks (it stops at the first one). */
async function swaggerSpecProblems(doc: Json): Promise<SpecProblem[]> {
  try {
    await SwaggerParser.validate(structuredClone(plainTemplates(doc)) as never, {
      resolve: { external: false },
      validate: { schema: false, spec: true },
    } as SwaggerParserOptions);
    return [];
  } catch (err) {
    const msg = firstLine((err as Error).message).replace(/^Validation failed\.\s*/, '');
    return [{ where: '', message: msg.replace(/__wildcard\d+/g, '*').replace(/__dup\d+/g, '') }];
  }
}

function isJwtDefinition(def: unknown): boolean {
  return isObject(def) && def.type === 'oauth2' && typeof def['x-google-issuer'] === 'string';
}

function checkSecurityList(
  list: unknown,
  defs: Json,
  at: readonly (string | number)[],
  out: SpecProblem[],
): void {
  if (list === undefined) return;
  arr(list).forEach((req, i) => {
    for (const name of Object.keys(obj(req))) {
      if (!isObject(defs[name])) {
        out.push({ where: where(...at, i, name), message: `names the security scheme "${name}", which securityDefinitions does not define` });
      }
    }
    const jwts = Object.keys(obj(req)).filter((n) => isJwtDefinition(defs[n]));
    if (jwts.length > 1) {
      out.push({
        where: where(...at, i),
        message: `requires the JWT schemes ${jwts.map((n) => `"${n}"`).join(' and ')} together; a call carries one token, so list them as separate alternatives (Google's compiler refuses this too)`,
      });
    }
  });
}

/**
 * Why the gateway cannot enforce a security scheme, or undefined when it can:
 * an API key (query or header) or a JWT (oauth2 with x-google-issuer).
 * Anything else would leave the operations that name it open, so a spec that
 * uses one is refused. (Google's compiler only warns, "Security Schema '%s' is
 * not supported", and the operation stays callable without it:
 * api-compiler AuthBuilder.addAuthProvider. Failing closed is the safe reading.)
 */
function unenforceable(def: Json): string | undefined {
  // oauth2 without x-google-issuer is already refused by the extension schema.
  if (def.type === 'apiKey' || def.type === 'oauth2') return undefined;
  return `is of type ${shown(def.type)}; the gateway enforces only apiKey and JWT (oauth2 with x-google-issuer) schemes`;
}

/**
 * Every scheme a security list names must be one the gateway enforces; a
 * scheme that is defined but never used is accepted, since nothing depends
 * on it (as Google's compiler ignores it).
 */
function checkEnforceable(list: unknown, defs: Json, at: readonly (string | number)[], out: SpecProblem[]): void {
  arr(list).forEach((req, i) => {
    for (const name of Object.keys(obj(req))) {
      const def = defs[name];
      const why = isObject(def) ? unenforceable(def) : undefined;
      if (why) {
        out.push({
          where: where(...at, i, name),
          message: `names the security scheme "${name}" (securityDefinitions.${name}), which ${why}: calls would not be checked; remove it or use a supported scheme`,
        });
      }
    }
  });
}

/** True when the (effective) security list names a JWT scheme in some alternative. */
function namesJwt(list: unknown, defs: Json): boolean {
  return arr(list).some((req) => Object.keys(obj(req)).some((n) => isJwtDefinition(defs[n])));
}

/** External `$ref`s are refused: a spec must never make the gateway read a file or a URL. */
function externalRefs(node: unknown, at: (string | number)[], out: SpecProblem[], depth = 0): void {
  if (depth > 64 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((v, i) => externalRefs(v, [...at, i], out, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) {
      out.push({ where: where(...at, '$ref'), message: `refers outside the document (${shown(v)}); external $refs are not supported: inline it` });
    } else externalRefs(v, [...at, k], out, depth + 1);
  }
}

/** Whether an authorization rule reads the verified JWT: anything but client_certificates (checked against the TLS client certificate). */
function readsJwt(authz: unknown): boolean {
  return Object.keys(obj(authz)).some((k) => k !== 'client_certificates');
}

/**
 * Everything wrong with a spec, one problem per finding. Returns the
 * dereferenced document (internal $refs resolved, external ones left alone:
 * a spec never makes us read a file or the network) when there is none.
 */
export async function validateSpec(doc: Json): Promise<{ api: Json | undefined; problems: SpecProblem[] }> {
  if (doc.swagger !== '2.0') {
    const got = doc.openapi !== undefined ? `openapi: ${shown(doc.openapi)}` : `swagger: ${shown(doc.swagger)}`;
    return { api: undefined, problems: [{ where: 'swagger', message: `must be "2.0": Cloud Endpoints specs are OpenAPI 2.0 (got ${got})` }] };
  }
  const refs: SpecProblem[] = [];
  externalRefs(doc, [], refs);
  if (refs.length > 0) return { api: undefined, problems: refs };
  // A $ref to nothing: taken as any value where only a payload is described, else refused.
  const dangling = danglingRefs(doc);
  if (dangling.problems.length > 0) return { api: undefined, problems: dangling.problems };
  doc = dangling.doc;
  const names = extensionNameFindings(doc);
  const expansion = refExpansionProblems(doc);
  if (expansion.length > 0) return { api: undefined, problems: expansion };
  const { api, problems } = await swaggerSchemaProblems(doc);
  if (!api) return { api, problems };
  const out: SpecProblem[] = [...names.problems];
  const defs = obj(api.securityDefinitions);

  if (api['x-google-backend'] !== undefined) checkExtension('backend', api['x-google-backend'], ['x-google-backend'], out);
  if (api['x-google-allow'] !== undefined) checkExtension('allow', api['x-google-allow'], ['x-google-allow'], out);
  if (api['x-google-endpoints'] !== undefined) checkExtension('endpoints', api['x-google-endpoints'], ['x-google-endpoints'], out);

  const metrics = new Set<string>();
  const mgmt = api['x-google-management'];
  if (mgmt !== undefined && checkExtension('management', mgmt, ['x-google-management'], out)) {
    for (const m of arr(obj(mgmt).metrics)) metrics.add(String(obj(m).name));
    arr(obj(obj(mgmt).quota).limits).forEach((l, i) => {
      const limit = obj(l);
      const at = ['x-google-management', 'quota', 'limits', i];
      if (!metrics.has(String(limit.metric))) {
        out.push({ where: where(...at, 'metric'), message: `names the metric ${shown(limit.metric)}, which x-google-management.metrics does not define` });
      }
      const unit = parseQuotaUnit(String(limit.unit));
      if ('error' in unit) out.push({ where: where(...at, 'unit'), message: `${unit.error} (got ${shown(limit.unit)})` });
    });
  }

  out.push(...personExtensionProblems(api));

  for (const [name, def] of Object.entries(defs)) {
    const d = obj(def);
    if (d.type === 'oauth2') {
      checkExtension('jwtSecurityDefinition', d, ['securityDefinitions', name], out);
    }
  }
  out.push(...signinProblems(defs));
  checkSecurityList(api.security, defs, ['security'], out);
  if (api['x-endpoints-authorization'] !== undefined) {
    if (checkExtension('authorization', api['x-endpoints-authorization'], ['x-endpoints-authorization'], out) && readsJwt(api['x-endpoints-authorization']) && !Object.values(defs).some(isJwtDefinition)) {
      out.push({
        where: 'x-endpoints-authorization',
        message: 'is checked against a verified JWT, but securityDefinitions defines no JWT scheme (type: oauth2 with x-google-issuer)',
      });
    }
  }

  for (const [path, item] of Object.entries(obj(api.paths))) {
    if (isObject(item) && item['x-google-backend'] !== undefined) {
      out.push({
        where: where('paths', path, 'x-google-backend'),
        message:
          'x-google-backend is not allowed on a path item (ESPv2 ignores it there and sends the calls to its local backend); put it inside each operation (get:, post:, ...) or at the top level of the spec',
      });
    }
  }

  const missingParams = new Map<string, string[]>();
  const templatesSeen = new Map<string, string>();
  const operationIds = new Map<string, string>();
  checkEnforceable(api.security, defs, ['security'], out);
  for (const { path, method, pathItem, op } of operationsOf(api)) {
    const at = ['paths', path, method];
    if (typeof op.operationId === 'string') {
      const first = operationIds.get(op.operationId);
      if (first) out.push({ where: where(...at, 'operationId'), message: `duplicates the operationId ${shown(op.operationId)} of ${first}` });
      else operationIds.set(op.operationId, where(...at));
    }
    checkEnforceable(op.security, defs, [...at, 'security'], out);
    const template = fullTemplate(api.basePath, path);
    let variables: string[] = [];
    try {
      variables = parseTemplate(template).variables.map((v) => v.name);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      out.push({ where: where('paths', path), message: `is not a valid path template: ${err.message}` });
    }
    const key = `${method} ${template}`;
    const prior = templatesSeen.get(key);
    if (prior) out.push({ where: where(...at), message: `duplicates the route ${method.toUpperCase()} ${template} already defined by ${prior}` });
    else templatesSeen.set(key, where(...at));

    const params = [...arr(pathItem.parameters), ...arr(op.parameters)].map(obj).filter((p) => p.in === 'path');
    for (const p of params) {
      if (!variables.includes(String(p.name))) {
        out.push({ where: where(...at, 'parameters'), message: `declares the path parameter ${shown(p.name)}, which the path template "${path}" does not contain` });
      }
    }
    const missing = missingPathParameterProblems(path, method, params.map((p) => String(p.name)), out);
    if (missing.length > 0) missingParams.set(`${method} ${path}`, missing);

    const backend = op['x-google-backend'];
    if (backend !== undefined && checkExtension('backend', backend, [...at, 'x-google-backend'], out)) {
      const b = obj(backend);
      if (b.jwt_audience !== undefined && b.disable_auth === true) {
        out.push({ where: where(...at, 'x-google-backend'), message: 'sets both jwt_audience and disable_auth: true; they exclude each other (keep one)' });
      }
    }
    const quota = op['x-google-quota'];
    if (quota !== undefined && checkExtension('quota', quota, [...at, 'x-google-quota'], out)) {
      for (const metric of Object.keys(obj(obj(quota).metricCosts))) {
        if (!metrics.has(metric)) {
          out.push({ where: where(...at, 'x-google-quota', 'metricCosts', metric), message: 'names a metric that x-google-management.metrics does not define' });
        }
      }
    }
    checkSecurityList(op.security, defs, [...at, 'security'], out);
    bodyLimitProblems(op, at, out);
    const authz = op['x-endpoints-authorization'];
    if (authz !== undefined && checkExtension('authorization', authz, [...at, 'x-endpoints-authorization'], out)) {
      if (readsJwt(authz) && !namesJwt(op.security !== undefined ? op.security : api.security, defs)) {
        out.push({
          where: where(...at, 'x-endpoints-authorization'),
          message: "is checked against a verified JWT, but this operation's security names no JWT scheme; add one (e.g. security: [{firebase: []}]) or remove the rule",
        });
      }
    }
  }

  bodyLimitProblems(api, [], out);
  const topBackend = obj(api['x-google-backend']);
  if (topBackend.jwt_audience !== undefined && topBackend.disable_auth === true) {
    out.push({ where: 'x-google-backend', message: 'sets both jwt_audience and disable_auth: true; they exclude each other (keep one)' });
  }

  // Its checks stop at the first problem; on a copy where ours are repaired, it reports one of its own, in the same pass.
  out.push(...(await swaggerSpecProblems(withPathParametersRepaired(doc, missingParams))).filter((p) => !/is missing path parameter|has a path parameter named/.test(p.message)).map(locatedSwaggerProblem));
  return { api: out.length === 0 ? withWarnings(api, [...dangling.warnings, ...names.warnings]) : undefined, problems: out };
}

/** `x-endpoints-max-request-body-bytes`: a whole number of bytes, 0 or more. */
function bodyLimitProblems(o: Json, at: readonly (string | number)[], out: SpecProblem[]): void {
  const v = o['x-endpoints-max-request-body-bytes'];
  if (v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return;
  out.push({ where: where(...at, 'x-endpoints-max-request-body-bytes'), message: `must be a whole number of bytes (0 or more), not ${shown(v)}` });
}
