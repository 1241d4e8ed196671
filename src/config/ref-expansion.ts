import { MAX_DEPTH, MAX_NODES, shortWhere } from './load.ts';
import { isObject } from './openapi.ts';
import { shown, where, type SpecProblem } from './problems.ts';

/**
 * swagger-parser dereferences every internal `$ref` by reusing its target, and
 * its schema check (and our cache entry) then walk the result as a tree: 24
 * levels of a definition using the next one twice is a 3 KB spec that expands
 * to 2^25 values. So before anything dereferences, measure the document as the
 * validator will see it, with each `$ref` counted as a copy of its target
 * (memoized per target, so measuring stays linear), and refuse it, naming the
 * `$ref`, when it is too big or too deep.
 */
export function refExpansionProblems(doc: unknown): SpecProblem[] {
  const m = new Measure(doc);
  try {
    const total = m.extent(doc, 0);
    if (total.size > MAX_NODES) {
      return [{ where: '', message: `expands to more than ${MAX_NODES} values once its $refs are resolved (each use of a $ref copies its target); refusing the spec` }];
    }
    return [];
  } catch (err) {
    if (err instanceof Refused) return [err.problem];
    throw err;
  }
}

interface Extent {
  readonly size: number;
  readonly height: number;
}

class Refused extends Error {
  readonly problem: SpecProblem;
  constructor(problem: SpecProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

const LEAF: Extent = { size: 1, height: 0 };
/** A `$ref` back into a target being measured: swagger-parser keeps it as a cycle, nothing copies it. */
const CYCLE: Extent = { size: 1, height: 1 };

class Measure {
  readonly #root: unknown;
  readonly #memo = new Map<object, Extent>();
  readonly #open = new Set<object>();
  /** Document keys of the value being measured (inside a $ref's target: the target's own place). */
  #at: (string | number)[] = [];
  /** Document places of the `$ref`s followed to get here, innermost last. */
  readonly #refSites: string[] = [];
  constructor(root: unknown) {
    this.#root = root;
  }

  extent(node: unknown, depth: number): Extent {
    if (node === null || typeof node !== 'object') return LEAF;
    const known = this.#memo.get(node);
    if (known) {
      if (depth + known.height > MAX_DEPTH) this.#refuse(TOO_DEEP);
      return known;
    }
    if (this.#open.has(node)) return CYCLE;
    if (depth >= MAX_DEPTH) this.#refuse(TOO_DEEP);
    this.#open.add(node);
    let size = 1;
    let height = 0;
    const ref = isObject(node) ? node.$ref : undefined;
    if (typeof ref === 'string' && ref.startsWith('#')) {
      // The $ref object is replaced by its target (siblings of $ref are dropped).
      const found = this.#resolve(ref);
      if (found) {
        const outer = this.#at;
        this.#refSites.push(where(...outer, '$ref'));
        this.#at = found.keys;
        const t = this.extent(found.value, depth);
        this.#at = outer;
        if (t.size > MAX_NODES) {
          this.#refuse(`refers to ${shown(ref)}, which expands to more than ${MAX_NODES} values once its $refs are resolved (each use of a $ref copies its target); refusing the spec`);
        }
        this.#refSites.pop();
        size = t.size;
        height = t.height;
      }
    } else {
      const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
      for (const [k, v] of entries) {
        this.#at.push(k);
        const e = this.extent(v, depth + 1);
        this.#at.pop();
        size += e.size;
        if (e.height + 1 > height) height = e.height + 1;
        if (size > MAX_NODES) break; // the $ref that brought us here reports it
      }
    }
    this.#open.delete(node);
    const e = { size, height };
    this.#memo.set(node, e);
    return e;
  }

  /** The place named is the innermost `$ref` followed: the one an author can act on. */
  #refuse(message: string): never {
    throw new Refused({ where: this.#refSites.at(-1) ?? shortWhere(this.#at), message });
  }

  #resolve(ref: string): { value: unknown; keys: (string | number)[] } | undefined {
    let cur: unknown = this.#root;
    const keys: (string | number)[] = [];
    if (ref === '#') return { value: cur, keys };
    if (!ref.startsWith('#/')) return undefined;
    for (const raw of ref.slice(2).split('/')) {
      let key: string;
      try {
        key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      } catch {
        return undefined; // swagger-parser reports the broken $ref
      }
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
      cur = (cur as Record<string, unknown>)[key];
      keys.push(key);
    }
    return { value: cur, keys };
  }
}

const TOO_DEEP = `nests deeper than ${MAX_DEPTH} levels once its $refs are resolved; refusing the spec`;
