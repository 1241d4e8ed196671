import { readFile } from 'node:fs/promises';
import { load as loadYaml, YAMLException } from 'js-yaml';
import { SpecError, where } from './problems.ts';

/** The spec file's text; an unreadable file becomes a SpecError naming why. */
export async function readSpecText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SpecError(file, [{ where: '', message: `cannot read the spec file (${code})` }]);
  }
}

/**
 * endpoint.yaml (YAML or JSON: JSON is YAML) into a plain object. Parse errors
 * become SpecErrors with the line and column, never a stack trace.
 */
export function parseSpecText(file: string, text: string): unknown {
  let doc: unknown;
  try {
    // JSON specs take the fast path; everything else is YAML (js-yaml: several
    // times faster than the alternatives on large specs, which a cold start pays).
    doc = /^\s*\{/.test(text) ? parseJsonOrYaml(text) : loadYaml(text, { maxAliases: 100, maxDepth: MAX_DEPTH });
  } catch (err) {
    const mark = err instanceof YAMLException ? err.mark : undefined;
    const reason = err instanceof YAMLException ? err.reason : ((err as Error).message ?? 'unparsable');
    throw new SpecError(file, [
      { where: mark ? `line ${mark.line + 1}, column ${mark.column + 1}` : '', message: `not valid YAML or JSON: ${reason.split('\n')[0]}` },
    ]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SpecError(file, [{ where: '', message: 'the spec must be an OpenAPI 2.0 object (swagger: "2.0")' }]);
  }
  // JSON.parse nests as deep as the text does; everything after it (our walks,
  // swagger-parser, Ajv) recurses, so a deep document must stop here, located.
  const deep: (string | number)[] = [];
  if (tooDeep(doc, 0, deep)) {
    throw new SpecError(file, [{ where: shortWhere(deep), message: `nests deeper than ${MAX_DEPTH} levels; refusing the spec` }]);
  }
  if (expandedSize(doc, new Map(), MAX_NODES) > MAX_NODES) {
    throw new SpecError(file, [{ where: '', message: `expands to more than ${MAX_NODES} values through YAML aliases; refusing it` }]);
  }
  return doc;
}

/** A spec larger than this once aliases (or $refs) are expanded is refused ("billion laughs"). */
export const MAX_NODES = 2_000_000;

/** Deepest nesting accepted: far beyond any real spec, far below the stack's limit. */
export const MAX_DEPTH = 256;

/**
 * True when some value sits deeper than MAX_DEPTH; `at` is then the path to it.
 * Heights are memoized per object, so a subtree shared through YAML aliases is
 * walked once yet counted at every depth it is used (a cycle is too deep).
 */
function tooDeep(node: unknown, depth: number, at: (string | number)[], heights = new Map<object, number>()): boolean {
  if (node === null || typeof node !== 'object') return false;
  const known = heights.get(node);
  if (known !== undefined) return depth + known > MAX_DEPTH;
  if (depth >= MAX_DEPTH) return true;
  heights.set(node, Infinity); // in progress: reaching it again is a cycle
  let height = 1;
  const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
  for (const [k, v] of entries) {
    at.push(k);
    if (tooDeep(v, depth + 1, at, heights)) return true;
    at.pop();
    if (v !== null && typeof v === 'object') height = Math.max(height, 1 + heights.get(v)!);
  }
  heights.set(node, height);
  return false;
}

/** The first keys of a very long path, enough to find the place. */
export function shortWhere(keys: readonly (string | number)[]): string {
  return keys.length > 12 ? `${where(...keys.slice(0, 12))}... (${keys.length} levels)` : where(...keys);
}

/**
 * Size of the document as a tree, counting a shared (aliased) subtree each
 * time it is used, memoized so the count itself stays linear.
 */
function expandedSize(node: unknown, memo: Map<object, number>, cap: number): number {
  if (node === null || typeof node !== 'object') return 1;
  const known = memo.get(node);
  if (known !== undefined) return known;
  memo.set(node, cap + 1); // a cycle counts as too large
  let n = 1;
  for (const v of Array.isArray(node) ? node : Object.values(node)) {
    n += expandedSize(v, memo, cap);
    if (n > cap) break;
  }
  memo.set(node, n);
  return n;
}

function parseJsonOrYaml(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // JSON with comments or trailing commas is still YAML-ish; let YAML explain the error.
    return loadYaml(text, { maxAliases: 100, maxDepth: MAX_DEPTH });
  }
}
