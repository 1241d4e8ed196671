/**
 * A string matching a simple regular expression, for `pattern`s in specs
 * (`^[A-Z]{2}-\d{4}$`, `^[a-z0-9-]+$`, ...). Literals, classes, `\d \w \s`,
 * `.`, groups with `|` and the quantifiers `? * + {n} {n,m}`; the first
 * alternative and the fewest repetitions (at least one for `+`) are taken, so
 * the result is deterministic. Returns undefined for what it cannot read
 * (lookarounds, backreferences): the caller then falls back to other samples.
 */
export function sampleForPattern(pattern: string): string | undefined {
  try {
    const p = new Parser(pattern);
    const out = p.alternation();
    if (p.pos !== pattern.length) return undefined;
    return new RegExp(pattern).test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

class Unsupported extends Error {}

class Parser {
  readonly src: string;
  pos = 0;
  constructor(src: string) {
    this.src = src;
  }

  alternation(): string {
    const first = this.sequence();
    while (this.src[this.pos] === '|') {
      this.pos++;
      this.sequence(); // later alternatives are parsed (to move past them), not used
    }
    return first;
  }

  sequence(): string {
    let out = '';
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      const atom = this.atom();
      out += this.repeat(atom);
    }
    return out;
  }

  repeat(atom: string): string {
    const c = this.src[this.pos];
    let min = 1;
    if (c === '?' || c === '*') {
      this.pos++;
      min = 0;
    } else if (c === '+') {
      this.pos++;
      min = 1;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) return atom; // a literal '{'
      this.pos += m[0].length;
      min = Number(m[1]);
    } else {
      return atom;
    }
    if (this.src[this.pos] === '?') this.pos++; // lazy quantifier: same minimum
    return atom.repeat(min);
  }

  atom(): string {
    const c = this.src[this.pos++]!;
    switch (c) {
      case '^':
      case '$':
        return '';
      case '.':
        return 'a';
      case '(': {
        if (this.src[this.pos] === '?') {
          if (this.src[this.pos + 1] !== ':') throw new Unsupported('lookaround');
          this.pos += 2;
        }
        const inner = this.alternation();
        if (this.src[this.pos++] !== ')') throw new Unsupported('unbalanced group');
        return inner;
      }
      case '[':
        return this.charClass();
      case '\\':
        return this.escape(false);
      default:
        return c;
    }
  }

  escape(inClass: boolean): string {
    const c = this.src[this.pos++];
    if (c === undefined) throw new Unsupported('trailing backslash');
    if (c === 'd') return '1';
    if (c === 'w') return 'a';
    if (c === 's') return ' ';
    if (c === 'D' || c === 'W' || c === 'S') return '-';
    if (/[1-9]/.test(c) && !inClass) throw new Unsupported('backreference');
    if (c === 'n') return '\n';
    if (c === 't') return '\t';
    if (c === 'u') {
      const hex = this.src.slice(this.pos, this.pos + 4);
      this.pos += 4;
      return String.fromCharCode(parseInt(hex, 16));
    }
    return c;
  }

  /** The first character the class admits (a negated class: the first of a few that it does not exclude). */
  charClass(): string {
    const negated = this.src[this.pos] === '^';
    if (negated) this.pos++;
    const members: string[] = [];
    const ranges: [string, string][] = [];
    let first = true;
    while (this.pos < this.src.length && (this.src[this.pos] !== ']' || first)) {
      first = false;
      let ch = this.src[this.pos++]!;
      if (ch === '\\') ch = this.escape(true);
      if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        let to = this.src[this.pos++]!;
        if (to === '\\') to = this.escape(true);
        ranges.push([ch, to]);
      } else {
        members.push(ch);
      }
    }
    if (this.src[this.pos++] !== ']') throw new Unsupported('unterminated class');
    if (!negated) return ranges.length > 0 ? ranges[0]![0] : (members[0] ?? 'a');
    const excluded = (x: string) => members.includes(x) || ranges.some(([a, b]) => x >= a && x <= b);
    const pick = ['a', 'x', 'Z', '0', '_', '-', '.'].find((x) => !excluded(x));
    if (pick === undefined) throw new Unsupported('negated class excludes every sample');
    return pick;
  }
}
