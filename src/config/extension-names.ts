import { isObject, obj, HTTP_METHODS, type Json } from './openapi.ts';
import { where, type SpecProblem } from './problems.ts';

/** The `x-google-*` names the gateway reads (Cloud Endpoints "OpenAPI extensions", OpenAPI 2.0). */
export const IMPLEMENTED_EXTENSIONS = [
  'x-google-allow',
  'x-google-backend',
  'x-google-endpoints',
  'x-google-management',
  'x-google-quota',
  'x-google-issuer',
  'x-google-jwks_uri',
  'x-google-audiences',
  'x-google-jwt-locations',
] as const;

/**
 * Real extensions the gateway does not act on: accepted with a warning saying
 * so, and where each comes from.
 */
export const UNIMPLEMENTED_EXTENSIONS: Readonly<Record<string, string>> = {
  'x-google-api-name':
    "names the API in Google's compiled service config (Cloud Endpoints OpenAPI extensions; written by Endpoints Frameworks); it changes no routing or check here, so the gateway ignores it",
  'x-google-api-management':
    'is the OpenAPI 3.x extension (Cloud Endpoints "OpenAPI 3.x extensions"); in an OpenAPI 2.0 spec the gateway ignores it: use x-google-management, x-google-backend and x-google-endpoints',
};

const KNOWN: readonly string[] = [...IMPLEMENTED_EXTENSIONS, ...Object.keys(UNIMPLEMENTED_EXTENSIONS)];

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function didYouMean(name: string): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of KNOWN) {
    const d = distance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 4)) ? best : undefined;
}

/**
 * Unknown `x-google-*` names where extensions stand (the top level, path
 * items, operations, security definitions) are refused: `x-google-backends:`
 * would otherwise send every call to the local backend without a word.
 * Known but unimplemented ones come back as warnings.
 */
export function extensionNameFindings(doc: Json): { problems: SpecProblem[]; warnings: SpecProblem[] } {
  const problems: SpecProblem[] = [];
  const warnings: SpecProblem[] = [];
  const look = (node: unknown, at: readonly (string | number)[]) => {
    if (!isObject(node)) return;
    for (const key of Object.keys(node)) {
      if (!key.startsWith('x-google-')) continue;
      const place = [...at, key];
      if ((IMPLEMENTED_EXTENSIONS as readonly string[]).includes(key)) continue;
      const why = UNIMPLEMENTED_EXTENSIONS[key];
      if (why !== undefined) {
        warnings.push({ where: where(...place), message: `${why}` });
        continue;
      }
      const guess = didYouMean(key);
      problems.push({
        where: where(...place),
        message: `is not a Google extension the gateway knows${guess ? `; did you mean "${guess}"?` : ''} (known: ${IMPLEMENTED_EXTENSIONS.join(', ')})`,
      });
    }
  };
  look(doc, []);
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    look(item, ['paths', path]);
    for (const m of HTTP_METHODS) if (isObject(obj(item)[m])) look(obj(item)[m], ['paths', path, m]);
  }
  for (const [name, def] of Object.entries(obj(doc.securityDefinitions))) look(def, ['securityDefinitions', name]);
  return { problems, warnings };
}
