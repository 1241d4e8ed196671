import type { PathTemplate } from './template.ts';

/**
 * Request router with ESPv2's matching semantics (reference 1.5).
 *
 * ESPv2 turns every template into an Envoy regex (`*` ⇒ `[^/]+`, `/**` ⇒
 * `/.*`, then `\/?` and `:verb`) and orders the routes by a pre-order walk of
 * a segment trie: a node's own routes, then its literal children (the verb
 * counts as one), then `{x}`/`*`, then `**` (whose verb children come before
 * its own routes). The first route matching path and method wins; then a 405
 * for the first template matching the path; then 404.
 *
 * We walk the same trie depth-first in that order against the path itself, so
 * a match costs what the path's own branches cost, not the number of routes.
 * A trie node sits at a fixed segment depth and every path segment has fixed
 * boundaries, so each node is visited at most twice (the last segment, with
 * and without its `:verb`).
 */

export type RouteMatch<T> =
  | { readonly kind: 'found'; readonly value: T; readonly bindings: ReadonlyArray<readonly [name: string, rawValue: string]> }
  | { readonly kind: 'method-not-allowed'; readonly template: string }
  | { readonly kind: 'not-found' };

interface Entry<T> {
  readonly template: PathTemplate;
  readonly value: T;
}

/** Routes ending at one trie position: one per method, plus the first template seen there (named by a 405). */
class Leaf<T> {
  readonly methods = new Map<string, Entry<T>>();
  readonly first: PathTemplate;
  constructor(first: PathTemplate) {
    this.first = first;
  }
}

/**
 * A template that goes on after its `**` with literal segments (`/a/**\/b/c`,
 * `/{x=a/**\/b}:custom`): matched by ESPv2's own regex for the rest of the path.
 */
class Tail<T> {
  readonly key: readonly string[];
  readonly literals: readonly string[];
  readonly verb: string | null;
  readonly leaf: Leaf<T>;
  /** Sticky, from just after the '/' before `**`: `(.*)/l1/l2\/?(:verb)?$`, as ESPv2's `.*`. */
  readonly re: RegExp;
  constructor(literals: readonly string[], verb: string | null, leaf: Leaf<T>) {
    this.literals = literals;
    this.verb = verb;
    this.leaf = leaf;
    // ESPv2's sort trie counts the verb as one more segment key.
    this.key = verb === null ? literals : [...literals, verb];
    const esc = (v: string) => v.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    this.re = new RegExp(`(.*)${literals.map((l) => `\\/${esc(l)}`).join('')}\\/?${verb === null ? '' : `:${esc(verb)}`}$`, 'y');
  }
}

/** ESPv2's order among a `**` node's children: segment keys compared in turn, a prefix first (sort.go). */
function byKey(a: Tail<unknown>, b: Tail<unknown>): number {
  const n = Math.min(a.key.length, b.key.length);
  for (let i = 0; i < n; i++) {
    const x = a.key[i]!;
    const y = b.key[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.key.length - b.key.length;
}

class TrieNode<T> {
  literals: Map<string, TrieNode<T>> | null = null;
  single: TrieNode<T> | null = null;
  /** Only literals may follow `**` (ESPv2): this child has `routes`, `verbs` and `tails`. */
  double: TrieNode<T> | null = null;
  /**
   * On a `**` node with templates going on after it: those and the verbs, in
   * ESPv2's order (children before the node's own routes); null otherwise.
   */
  tails: Tail<T>[] | null = null;
  /** Templates without a verb ending here. */
  routes: Leaf<T> | null = null;
  /** Templates with a verb ending here, by verb. */
  verbs: Map<string, Leaf<T>> | null = null;
}

const NOT_FOUND: RouteMatch<never> = Object.freeze({ kind: 'not-found' });
const NO_BINDINGS: ReadonlyArray<readonly [string, string]> = Object.freeze([]);
const SLASH = 0x2f;

/** True when p[from, to) holds a ':'. */
function colonIn(p: string, from: number, to: number): boolean {
  const i = p.indexOf(':', from);
  return i >= 0 && i < to;
}

export interface RouterOptions {
  /**
   * ESPv2 --disallow_colon_in_wildcard_path_segment: `*` and `**` never match
   * text holding a ':' (its route regexes `[^\/:]+` and `[^:]*`), as Google's
   * HTTP template grammar says; off by default, as in ESPv2.
   */
  readonly disallowColonInWildcard?: boolean;
}

export class Router<T> {
  readonly #root = new TrieNode<T>();
  readonly #noColon: boolean;
  readonly #verbs = new Set<string>();
  #size = 0;
  /** Per-segment [start, end) offsets of the current walk, indexed by template segment. */
  #starts = new Int32Array(16);
  #ends = new Int32Array(16);

  // State of the match in progress (match() is synchronous and not re-entrant).
  #path = '';
  #method = '';
  #verb = '';
  /** Index of the ':' that starts a registered verb in the last path segment, or -1. */
  #verbPos = -1;
  /** First leaf whose template matched the path, whatever its methods. */
  #miss: Leaf<T> | null = null;

  constructor(opts: RouterOptions = {}) {
    this.#noColon = opts.disallowColonInWildcard === true;
  }

  get size(): number {
    return this.#size;
  }

  /** Registers `method template`; throws when that method already has a route with the same path pattern. */
  add(method: string, template: PathTemplate, value: T): void {
    let node = this.#root;
    const segs = template.segments;
    const double = segs.findIndex((seg) => seg.kind === 'double');
    if (double >= 0 && double < segs.length - 1) {
      this.#addTail(method, template, value, double);
      return;
    }
    for (const seg of segs) {
      if (seg.kind === 'literal') {
        node.literals ??= new Map();
        let child = node.literals.get(seg.value);
        if (!child) node.literals.set(seg.value, (child = new TrieNode()));
        node = child;
      } else if (seg.kind === 'single') {
        node = node.single ??= new TrieNode();
      } else {
        node = node.double ??= new TrieNode();
      }
    }
    let leaf: Leaf<T> | undefined;
    if (template.verb === null) {
      leaf = node.routes ??= new Leaf(template);
    } else {
      node.verbs ??= new Map();
      leaf = node.verbs.get(template.verb);
      if (!leaf) node.verbs.set(template.verb, (leaf = new Leaf(template)));
    }
    const prior = leaf.methods.get(method);
    if (prior) {
      const same = prior.template.raw === template.raw ? '' : ` (same path pattern as ${prior.template.raw})`;
      throw new Error(`duplicate route ${method} ${template.raw}${same}`);
    }
    leaf.methods.set(method, { template, value });
    if (template.verb !== null) {
      this.#verbs.add(template.verb);
      // A `**` node walked by its ordered list keeps its verbs there too.
      if (node.tails && segs[segs.length - 1]?.kind === 'double' && !node.tails.some((t) => t.leaf === leaf)) {
        node.tails.push(new Tail([], template.verb, leaf));
        node.tails.sort(byKey);
      }
    }
    this.#sized(segs.length);
    this.#size++;
  }

  /** A template with literal segments after its `**` (index `double`). */
  #addTail(method: string, template: PathTemplate, value: T, double: number): void {
    const segs = template.segments;
    let node = this.#root;
    for (let i = 0; i <= double; i++) {
      const seg = segs[i]!;
      if (seg.kind === 'literal') {
        node.literals ??= new Map();
        let child = node.literals.get(seg.value);
        if (!child) node.literals.set(seg.value, (child = new TrieNode()));
        node = child;
      } else if (seg.kind === 'single') node = node.single ??= new TrieNode();
      else node = node.double ??= new TrieNode();
    }
    const literals = segs.slice(double + 1).map((seg) => (seg as { value: string }).value);
    if (!node.tails) {
      // From now on this node's verbs are matched through the ordered list as well.
      node.tails = [...(node.verbs ?? new Map<string, Leaf<T>>())].map(([verb, leaf]) => new Tail([], verb, leaf));
    }
    const same = node.tails.find((t) => t.verb === template.verb && t.literals.join('/') === literals.join('/'));
    const tail = same ?? new Tail(literals, template.verb, new Leaf(template));
    const prior = tail.leaf.methods.get(method);
    if (prior) {
      const alias = prior.template.raw === template.raw ? '' : ` (same path pattern as ${prior.template.raw})`;
      throw new Error(`duplicate route ${method} ${template.raw}${alias}`);
    }
    tail.leaf.methods.set(method, { template, value });
    if (!same) {
      node.tails.push(tail);
      node.tails.sort(byKey);
    }
    this.#sized(segs.length);
    this.#size++;
  }

  #sized(segments: number): void {
    if (segments >= this.#starts.length) {
      this.#starts = new Int32Array(segments * 2);
      this.#ends = new Int32Array(segments * 2);
    }
  }

  /** Matches an already normalized path (no query string). */
  match(method: string, path: string): RouteMatch<T> {
    if (path.length === 0 || path.charCodeAt(0) !== SLASH) return NOT_FOUND;
    this.#path = path;
    this.#method = method;
    this.#miss = null;
    this.#verbPos = -1;
    if (this.#verbs.size > 0) {
      const colon = path.lastIndexOf(':');
      if (colon > path.lastIndexOf('/') && colon < path.length - 1) {
        const verb = path.slice(colon + 1);
        if (this.#verbs.has(verb)) {
          this.#verb = verb;
          this.#verbPos = colon;
        }
      }
    }
    const hit = this.#visit(this.#root, 0, 0, false);
    const miss = this.#miss as Leaf<T> | null; // set by #visit
    let result: RouteMatch<T>;
    if (hit) {
      result = { kind: 'found', value: hit.value, bindings: this.#bindings(hit.template) };
    } else if (miss) {
      result = { kind: 'method-not-allowed', template: miss.first.compiled };
    } else {
      result = NOT_FOUND;
    }
    this.#path = '';
    this.#miss = null;
    return result;
  }

  #bindings(template: PathTemplate): ReadonlyArray<readonly [string, string]> {
    const vars = template.variables;
    if (vars.length === 0) return NO_BINDINGS;
    const out: (readonly [string, string])[] = new Array(vars.length);
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i]!;
      out[i] = [v.name, this.#path.slice(this.#starts[v.start]!, this.#ends[v.end - 1]!)];
    }
    return out;
  }

  /** Entry for the current method, remembering the first path-matching leaf for a 405. */
  #leaf(leaf: Leaf<T> | null | undefined): Entry<T> | null {
    if (!leaf) return null;
    const entry = leaf.methods.get(this.#method);
    if (entry) return entry;
    this.#miss ??= leaf;
    return null;
  }

  /**
   * `node` was reached by consuming `depth` segments. `c` is where the last
   * consumed segment ended: the path's end, a '/', or (when `cut`) the ':' of
   * the verb, which then must be the rest of the path.
   */
  #visit(node: TrieNode<T>, depth: number, c: number, cut: boolean): Entry<T> | null {
    if (cut) return node.verbs ? this.#leaf(node.verbs.get(this.#verb)) : null;
    const p = this.#path;
    const len = p.length;
    let hit: Entry<T> | null;
    // Own routes: the path ends here, with at most one trailing slash.
    if (c >= len - 1 && node.routes && (hit = this.#leaf(node.routes))) return hit;
    if (c === len) return null;
    const s = c + 1; // p[c] is '/'
    const vp = this.#verbPos;
    // `/p/:verb`: the optional slash before the verb.
    if (s === vp && node.verbs && (hit = this.#leaf(node.verbs.get(this.#verb)))) return hit;
    let e = p.indexOf('/', s);
    if (e < 0) e = len;
    if (e > s) {
      // Does this (last) segment carry the verb? Then it also ends at the ':'.
      const withVerb = vp >= s && e === len;
      const starts = this.#starts;
      const ends = this.#ends;
      if (node.literals) {
        // Literals never contain ':', so with a verb only the part before it can match.
        const child = withVerb ? (vp > s ? node.literals.get(p.slice(s, vp)) : undefined) : node.literals.get(p.slice(s, e));
        if (child) {
          starts[depth] = s;
          ends[depth] = withVerb ? vp : e;
          if ((hit = this.#visit(child, depth + 1, withVerb ? vp : e, withVerb))) return hit;
        }
      }
      if (node.single) {
        // The whole segment (':' is data) before the segment cut at the verb: ESPv2's order.
        starts[depth] = s;
        ends[depth] = e;
        if ((!this.#noColon || !colonIn(p, s, e)) && (hit = this.#visit(node.single, depth + 1, e, false))) return hit;
        if (withVerb && vp > s && (!this.#noColon || !colonIn(p, s, vp))) {
          ends[depth] = vp;
          if ((hit = this.#visit(node.single, depth + 1, vp, true))) return hit;
        }
      }
    }
    const d = node.double;
    if (d) {
      // `/**` takes everything after this '/'.
      this.#starts[depth] = s;
      if (d.tails && (hit = this.#tails(d.tails, depth, s))) return hit;
      if (!d.tails && vp >= 0 && d.verbs && (!this.#noColon || !colonIn(p, s, vp))) {
        this.#ends[depth] = vp; // keeps a slash before the verb, as ESPv2 does
        if ((hit = this.#leaf(d.verbs.get(this.#verb)))) return hit;
      }
      if (d.routes && (!this.#noColon || !colonIn(p, s, len))) {
        this.#ends[depth] = s < len && p.charCodeAt(len - 1) === SLASH ? len - 1 : len;
        if ((hit = this.#leaf(d.routes))) return hit;
      }
    }
    return null;
  }

  /** The templates going on after a `**` (and its verbs), first match in ESPv2's order. */
  #tails(tails: readonly Tail<T>[], depth: number, s: number): Entry<T> | null {
    const p = this.#path;
    const starts = this.#starts;
    const ends = this.#ends;
    for (const t of tails) {
      t.re.lastIndex = s;
      const m = t.re.exec(p);
      if (m === null) continue;
      if (this.#noColon && m[1]!.includes(':')) continue;
      let at = s + m[1]!.length;
      ends[depth] = at;
      for (let j = 0; j < t.literals.length; j++) {
        starts[depth + 1 + j] = at + 1;
        at += 1 + t.literals[j]!.length;
        ends[depth + 1 + j] = at;
      }
      const hit = this.#leaf(t.leaf);
      if (hit) return hit;
    }
    return null;
  }
}
