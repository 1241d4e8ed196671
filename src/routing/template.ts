/**
 * Google HttpRule path templates, as Endpoints compiles OpenAPI paths:
 *
 *   Template = "/" | "/" Segments [ Verb ]
 *   Segments = Segment { "/" Segment }
 *   Segment  = "*" | "**" | LITERAL | Variable
 *   Variable = "{" FieldPath [ "=" Segments ] "}"
 *   Verb     = ":" LITERAL
 *
 * Parsed once at config time; the router walks `segments`, and a variable is
 * the range of segments it spans, so `{s=a/*\/b/**}` is four segments.
 */

export type Segment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'single' }
  | { readonly kind: 'double' };

/** A named variable over the segment index range [start, end). */
export interface TemplateVariable {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

export interface PathTemplate {
  readonly raw: string;
  /**
   * The template as Google's compiler writes it into the service config, with
   * variable names snake-cased (`{shelfId}` → `{shelf_id}`): the name ESPv2's
   * 405 text reports. Query names of CONSTANT_ADDRESS keep the spec's names.
   */
  readonly compiled: string;
  readonly segments: readonly Segment[];
  readonly verb: string | null;
  readonly variables: readonly TemplateVariable[];
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const SINGLE: Segment = Object.freeze({ kind: 'single' });
const DOUBLE: Segment = Object.freeze({ kind: 'double' });

/** Characters that cannot appear inside a literal segment or a verb. */
const RESERVED_IN_LITERAL = '{}*';

class Parser {
  readonly raw: string;
  pos = 0;
  readonly segments: Segment[] = [];
  readonly variables: TemplateVariable[] = [];
  verb: string | null = null;

  constructor(raw: string) {
    this.raw = raw;
  }

  fail(what: string, at: number = this.pos): never {
    throw new TemplateError(`invalid path template ${JSON.stringify(this.raw)}: ${what} at offset ${at}`);
  }

  parse(): PathTemplate {
    const raw = this.raw;
    if (raw.length === 0 || raw.charCodeAt(0) !== 0x2f) this.fail("it must start with '/'", 0);
    if (raw === '/') return freeze(raw, [], null, []);
    this.pos = 1;
    this.parseSegments(false);
    if (this.pos < raw.length) {
      const c = raw[this.pos];
      if (c === ':') this.parseVerb();
      else if (c === '}') this.fail("unbalanced '}'");
      else this.fail(`unexpected ${JSON.stringify(c)}`);
    }
    // ESPv2's parser (httppattern validateParts): after a `**` only literal
    // segments may follow (`/a/{b=c/**}/d/e`), never `*`, `{x}` or another `**`.
    const segs = this.segments;
    const double = segs.findIndex((s) => s.kind === 'double');
    if (double >= 0) {
      for (let i = double + 1; i < segs.length; i++) {
        if (segs[i]!.kind !== 'literal') {
          this.fail(`only literal segments may follow '**' (segment ${i + 1} of ${segs.length} is a wildcard)`, this.raw.indexOf('**'));
        }
      }
    }
    return freeze(raw, segs, this.verb, this.variables);
  }

  /** Segments = Segment { "/" Segment }; stops before ':' (verb), '}' (end of variable) or the end. */
  parseSegments(inVariable: boolean): void {
    const raw = this.raw;
    for (;;) {
      this.parseSegment(inVariable);
      if (this.pos < raw.length && raw.charCodeAt(this.pos) === 0x2f) {
        this.pos++;
        continue;
      }
      return;
    }
  }

  parseSegment(inVariable: boolean): void {
    const raw = this.raw;
    const start = this.pos;
    if (start >= raw.length) this.fail(inVariable ? "unbalanced '{': missing '}'" : 'empty segment (trailing slash)');
    const c = raw[start]!;
    if (c === '/') this.fail("empty segment ('//')");
    if (c === '{') {
      if (inVariable) this.fail('nested variable');
      this.parseVariable();
      return;
    }
    if (c === '*') {
      if (raw[start + 1] === '*') {
        this.segments.push(DOUBLE);
        this.pos = start + 2;
      } else {
        this.segments.push(SINGLE);
        this.pos = start + 1;
      }
      this.expectSegmentEnd(inVariable, "'*' and '**' must be whole segments");
      return;
    }
    if (c === '}') this.fail(inVariable ? 'empty segment in variable pattern' : "unbalanced '}'");
    if (c === ':') this.fail(inVariable ? "':' inside a variable" : 'empty segment before verb');
    let end = start;
    while (end < raw.length) {
      const ch = raw[end]!;
      if (ch === '/' || ch === ':' || (ch === '}' && inVariable)) break;
      if (RESERVED_IN_LITERAL.includes(ch)) {
        this.fail(
          ch === '{' ? (inVariable ? 'nested variable' : 'a variable must span whole segments') : ch === '}' ? "unbalanced '}'" : "'*' inside a literal segment",
          end,
        );
      }
      end++;
    }
    this.segments.push({ kind: 'literal', value: raw.slice(start, end) });
    this.pos = end;
  }

  expectSegmentEnd(inVariable: boolean, what: string): void {
    const raw = this.raw;
    if (this.pos >= raw.length) return;
    const c = raw[this.pos];
    if (c === '/' || c === ':' || (c === '}' && inVariable)) return;
    this.fail(c === '}' ? "unbalanced '}'" : c === '{' ? 'a variable must span whole segments' : what);
  }

  parseVariable(): void {
    const raw = this.raw;
    const open = this.pos;
    let i = open + 1;
    while (i < raw.length) {
      const ch = raw[i]!;
      if (ch === '}' || ch === '=') break;
      if (ch === '{') this.fail('nested variable', i);
      if (ch === '/' || ch === '*' || ch === ':') {
        this.fail(`${JSON.stringify(ch)} in variable name (missing '}' or '='?)`, i);
      }
      i++;
    }
    if (i >= raw.length) this.fail("unbalanced '{': missing '}'", open);
    const name = raw.slice(open + 1, i);
    if (name.length === 0) this.fail('empty variable name', open);
    if (name.split('.').some((part) => part.length === 0)) this.fail(`empty component in variable name ${JSON.stringify(name)}`, open);
    if (this.variables.some((v) => v.name === name)) this.fail(`duplicate variable name ${JSON.stringify(name)}`, open);
    const start = this.segments.length;
    if (raw[i] === '=') {
      this.pos = i + 1;
      this.parseSegments(true);
      if (this.pos >= raw.length || raw[this.pos] !== '}') {
        if (this.pos < raw.length && raw[this.pos] === ':') this.fail("':' inside a variable");
        this.fail("unbalanced '{': missing '}'", open);
      }
      this.pos++;
    } else {
      this.segments.push(SINGLE);
      this.pos = i + 1;
    }
    this.variables.push(Object.freeze({ name, start, end: this.segments.length }));
    this.expectSegmentEnd(false, 'a variable must span whole segments');
  }

  parseVerb(): void {
    const raw = this.raw;
    const start = this.pos + 1;
    const verb = raw.slice(start);
    if (verb.length === 0) this.fail("empty verb after ':'", this.pos);
    for (let i = 0; i < verb.length; i++) {
      const ch = verb[i]!;
      if (ch === '/') this.fail("':' is only allowed before a verb on the last segment", this.pos);
      if (ch === ':' || RESERVED_IN_LITERAL.includes(ch)) this.fail(`${JSON.stringify(ch)} in verb`, start + i);
    }
    this.verb = verb;
    this.pos = raw.length;
  }
}

function freeze(raw: string, segments: Segment[], verb: string | null, variables: TemplateVariable[]): PathTemplate {
  const compiled = variables.length === 0 ? raw : raw.replace(/\{([^}=]+)/g, (_, name: string) => `{${snakeCase(name)}`);
  return Object.freeze({ raw, compiled, segments: Object.freeze(segments), verb, variables: Object.freeze(variables) });
}

/**
 * Google's compiler's field names for path parameters: each upper-case letter
 * becomes `_` and its lower case, except at the start of a dotted component
 * (`shelfId` → `shelf_id`, `SHELF` → `s_h_e_l_f`, `SHELF.ID` → `s_h_e_l_f.i_d`,
 * as ESPv2's test configs show).
 */
export function snakeCase(name: string): string {
  return name
    .split('.')
    .map((part) => part.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`)))
    .join('.');
}

/** Parses an HttpRule path template; throws TemplateError saying what is wrong and where. */
export function parseTemplate(raw: string): PathTemplate {
  return new Parser(raw).parse();
}

/**
 * What a template matches, without its variable names: `/a/{id}` and
 * `/a/{name}` are one pattern (ESPv2 compares the routes' regexes).
 */
export function patternKey(t: PathTemplate): string {
  const parts = t.segments.map((s) => (s.kind === 'literal' ? `=${s.value}` : s.kind === 'single' ? '*' : '**'));
  return `/${parts.join('/')}${t.verb === null ? '' : `:${t.verb}`}`;
}
