import { isObject, type Json } from '../config/openapi.ts';

/** Extensions that describe the gateway's inside (backends, audiences, quotas, issuers), never its API. */
function isInternal(key: string): boolean {
  return key.startsWith('x-google-') || key.startsWith('x-endpoints-');
}

/** Maps whose keys are names (a property may be called `x-google-id`), not extensions. */
const NAME_MAPS = new Set(['properties', 'definitions', 'securityDefinitions', 'parameters', 'patternProperties']);
/** Values that are examples of data: copied as they are, never read as spec. */
const DATA_VALUES = new Set(['example', 'examples', 'default', 'enum', 'x-example']);

function clean(node: unknown, namesHere: boolean, seen: Map<object, unknown>): unknown {
  if (Array.isArray(node)) return node.map((v) => clean(v, false, seen));
  if (!isObject(node)) return node;
  const done = seen.get(node);
  if (done !== undefined) return done; // YAML aliases share subtrees: clean once
  const out: Json = {};
  seen.set(node, out);
  for (const [k, v] of Object.entries(node)) {
    if (!namesHere && isInternal(k)) continue;
    out[k] = DATA_VALUES.has(k) && !namesHere ? v : clean(v, !namesHere && NAME_MAPS.has(k), seen);
  }
  return out;
}

/**
 * The spec as published to API consumers: every `x-google-*` and
 * `x-endpoints-*` extension removed (backend addresses, audiences,
 * `disable_auth`, management and quota settings, JWT issuers' internals),
 * and `host` set to the service name.
 */
export function sanitizeSpec(doc: Json, serviceName: string): Json {
  const out = clean(doc, false, new Map()) as Json;
  out.host = serviceName;
  return out;
}
