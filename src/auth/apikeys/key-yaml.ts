/**
 * A fast reader for the block-style YAML the `keys` commands write (and most
 * people write by hand): mappings and sequences by indentation, plain,
 * single- and double-quoted one-line scalars, one-line flow lists of scalars,
 * comments. It reads a 100,000-key store in a fraction of a second with
 * memory for one entry at a time, where a general YAML parser needs tens of
 * seconds and hundreds of MiB. On anything outside that subset (anchors,
 * tags, block or multi-line scalars, flow mappings, …) it throws
 * NotInSubset, and the caller falls back to the general parser; within the
 * subset it reads values exactly as `yaml`'s core schema does.
 */

/** The text uses YAML this reader does not handle; `line` is 1-based. */
export class NotInSubset extends Error {
  readonly line: number;
  constructor(line: number, why: string) {
    super(`line ${line}: ${why}`);
    this.name = 'NotInSubset';
    this.line = line;
  }
}

/** Where the `keys` list is, for editing the text in place. */
export interface KeyListLayout {
  /** 'block': one `- ` item per entry; 'flow': `keys: []` or similar; 'absent': no `keys` at all. */
  readonly style: 'block' | 'flow' | 'absent';
  /** Column of the items' `-` (block style). */
  readonly itemIndent: number;
  /** Offset just past the last item's last line (block style; -1 otherwise). */
  readonly end: number;
  /** The document's top level is a mapping (false: empty, a scalar or a list). */
  readonly mapping: boolean;
}

/** Called with each item of `keys` as it is read; `start`/`end` span its lines (end past the newline), -1 for flow items. */
export type ItemVisitor = (value: unknown, index: number, start: number, end: number) => void;

interface Line {
  readonly indent: number;
  /** The line after its indentation, without the line break or trailing blanks. */
  readonly content: string;
  readonly start: number;
  /** Offset past the line break (or the text's end). */
  readonly end: number;
  readonly no: number;
}

const KEY = /^(?:[A-Za-z_][A-Za-z0-9_-]*|"(?:[^"\\]|\\.)*")$/;
const NULL = /^(?:~|null|Null|NULL)$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const INT = /^[-+]?[0-9]+$/;
// Other core-schema numbers (hex, octal, floats, .inf, .nan): left to the general parser.
const OTHER_NUMBER = /^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
// A plain scalar may not start with these (or they make it something else); `-` may, before a non-blank (`-12`).
const PLAIN_START = /^(?:[?:,[\]{}#&*!|>'"%@`]|-(?:\s|$))/;

class Cursor {
  private pos = 0;
  private no = 0;
  private ahead: Line | null | undefined;
  /** Offset past the last line taken with next(). */
  lastEnd = -1;
  private readonly text: string;
  constructor(text: string) {
    this.text = text;
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1; // a byte-order mark; offsets stay the text's own
  }

  peek(): Line | null {
    if (this.ahead === undefined) this.ahead = this.read();
    return this.ahead;
  }

  next(): Line | null {
    const l = this.peek();
    this.ahead = undefined;
    if (l !== null) this.lastEnd = l.end;
    return l;
  }

  /** The next line that is neither blank nor a comment. */
  private read(): Line | null {
    const t = this.text;
    while (this.pos < t.length) {
      const start = this.pos;
      const nl = t.indexOf('\n', start);
      const end = nl === -1 ? t.length : nl + 1;
      this.pos = end;
      this.no++;
      let i = start;
      while (i < end && t.charCodeAt(i) === 32) i++;
      let stop = nl === -1 ? t.length : nl;
      while (stop > i && (t.charCodeAt(stop - 1) === 32 || t.charCodeAt(stop - 1) === 13 || t.charCodeAt(stop - 1) === 9)) stop--;
      if (stop === i) continue;
      const c = t.charCodeAt(i);
      if (c === 35 /* # */) continue;
      if (c === 9) throw new NotInSubset(this.no, 'a tab in the indentation');
      const content = t.slice(i, stop);
      if (i === start && (content.startsWith('---') || content.startsWith('...') || c === 37 /* % */)) {
        throw new NotInSubset(this.no, 'document markers or directives');
      }
      return { indent: i - start, content, start, end, no: this.no };
    }
    return null;
  }
}

const isDash = (s: string): boolean => s === '-' || s.startsWith('- ');

/** Reads `text` (a whole store file); calls `visit` for each item of its top-level `keys`. */
export function scanKeyList(text: string, visit: ItemVisitor): KeyListLayout {
  const cur = new Cursor(text);
  const first = cur.peek();
  if (first === null) return { style: 'absent', itemIndent: 0, end: -1, mapping: false };
  if (first.indent !== 0 || isDash(first.content) || splitKey(first) === null) {
    // A top-level list or scalar: read it all, so its errors are the general parser's.
    throw new NotInSubset(first.no, 'the top level is not a mapping');
  }
  let layout: KeyListLayout = { style: 'absent', itemIndent: 0, end: -1, mapping: true };
  const seen = new Set<string>();
  for (let l = cur.peek(); l !== null; l = cur.peek()) {
    if (l.indent !== 0) throw new NotInSubset(l.no, 'unexpected indentation');
    cur.next();
    const kv = splitKey(l);
    if (kv === null) throw new NotInSubset(l.no, 'not a "key: value" line');
    if (seen.has(kv.key)) throw new NotInSubset(l.no, `"${kv.key}" twice`);
    seen.add(kv.key);
    if (kv.key !== 'keys') {
      valueAfterKey(cur, 0, kv.rest, l.no); // read (and check), then ignored
      continue;
    }
    const next = cur.peek();
    if (stripComment(kv.rest) === '' && next !== null && isDash(next.content)) {
      const end = readSeq(cur, next.indent, visit);
      layout = { style: 'block', itemIndent: next.indent, end, mapping: true };
    } else {
      const v = valueAfterKey(cur, 0, kv.rest, l.no);
      if (Array.isArray(v)) v.forEach((item, i) => visit(item, i, -1, -1));
      layout = { style: Array.isArray(v) ? 'flow' : 'absent', itemIndent: 0, end: -1, mapping: true };
      if (!Array.isArray(v)) throw new NotInSubset(l.no, '"keys" is not a list');
    }
  }
  return layout;
}

/** Reads a block sequence at `indent`; returns the offset past its last line. */
function readSeq(cur: Cursor, indent: number, visit?: ItemVisitor, out?: unknown[]): number {
  let end = -1;
  let index = 0;
  for (let l = cur.peek(); l !== null && l.indent === indent && isDash(l.content); l = cur.peek()) {
    cur.next();
    const rest = l.content.slice(1).trimStart();
    const col = indent + (l.content.length - rest.length);
    let value: unknown;
    if (stripComment(rest) === '') {
      const n = cur.peek();
      value = n !== null && n.indent > indent ? readBlock(cur, n.indent) : null;
    } else if (isDash(rest)) {
      throw new NotInSubset(l.no, 'a list directly inside a list item');
    } else {
      const kv = splitKey({ ...l, content: rest });
      if (kv !== null) value = readMap(cur, col, { key: kv.key, rest: kv.rest, no: l.no });
      else value = inlineValue(rest, l.no, cur, indent);
    }
    const after = cur.peek();
    if (after !== null && after.indent > indent) throw new NotInSubset(after.no, 'unexpected indentation');
    end = cur.lastEnd;
    if (visit) visit(value, index, l.start, end);
    else out!.push(value);
    index++;
  }
  return end;
}

/** A block node (mapping or sequence) whose first line is next, at `indent`. */
function readBlock(cur: Cursor, indent: number): unknown {
  const l = cur.peek()!;
  if (isDash(l.content)) {
    const out: unknown[] = [];
    readSeq(cur, indent, undefined, out);
    return out;
  }
  return readMap(cur, indent);
}

function readMap(cur: Cursor, indent: number, first?: { key: string; rest: string; no: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const add = (key: string, rest: string, no: number) => {
    if (Object.hasOwn(out, key)) throw new NotInSubset(no, `"${key}" twice in one mapping`);
    // Assigning it would set the prototype; the general parser's reading is left to it.
    if (key === '__proto__') throw new NotInSubset(no, 'a "__proto__" key');
    out[key] = valueAfterKey(cur, indent, rest, no);
  };
  if (first) add(first.key, first.rest, first.no);
  for (let l = cur.peek(); l !== null && l.indent === indent && !isDash(l.content); l = cur.peek()) {
    cur.next();
    const kv = splitKey(l);
    if (kv === null) throw new NotInSubset(l.no, 'not a "key: value" line');
    add(kv.key, kv.rest, l.no);
  }
  const n = cur.peek();
  if (n !== null && n.indent > indent) throw new NotInSubset(n.no, 'unexpected indentation');
  return out;
}

/** The value of `key:` whose line continues with `rest`, in a mapping at `indent`. */
function valueAfterKey(cur: Cursor, indent: number, rest: string, no: number): unknown {
  if (stripComment(rest) !== '') return inlineValue(rest, no, cur, indent);
  const n = cur.peek();
  if (n === null) return null;
  if (n.indent > indent) return readBlock(cur, n.indent);
  // `key:` followed by a list at the key's own indentation is a list.
  if (n.indent === indent && isDash(n.content)) {
    const out: unknown[] = [];
    readSeq(cur, indent, undefined, out);
    return out;
  }
  return null;
}

/** A value on the rest of a line; the next line must not continue it. */
function inlineValue(rest: string, no: number, cur: Cursor, indent: number): unknown {
  const v = scalarOrFlow(rest, no);
  const n = cur.peek();
  if (n !== null && n.indent > indent) throw new NotInSubset(n.no, 'a value that continues on the next line');
  return v;
}

function scalarOrFlow(s: string, no: number): unknown {
  const c = s[0];
  if (c === '"' || c === "'") {
    const { value, end } = quoted(s, 0, no);
    if (stripComment(s.slice(end)) !== '') throw new NotInSubset(no, 'text after a quoted value');
    return value;
  }
  if (c === '[') return flowList(s, no);
  if (c === '{') {
    if (/^\{\s*\}\s*(?:#.*)?$/.test(s)) return {};
    throw new NotInSubset(no, 'a flow mapping');
  }
  return plain(stripComment(s), no);
}

/** A quoted scalar starting at s[i]; `end` is past its closing quote. */
function quoted(s: string, i: number, no: number): { value: string; end: number } {
  const q = s[i];
  if (q === "'") {
    let j = i + 1;
    for (;;) {
      const k = s.indexOf("'", j);
      if (k === -1) throw new NotInSubset(no, 'a quoted value over several lines');
      if (s[k + 1] === "'") {
        j = k + 2;
        continue;
      }
      return { value: s.slice(i + 1, k).replaceAll("''", "'"), end: k + 1 };
    }
  }
  let j = i + 1;
  while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
  if (j >= s.length) throw new NotInSubset(no, 'a quoted value over several lines');
  const inner = s.slice(i + 1, j);
  // Without escapes the value is the text between the quotes (the common case: `project: "123"`).
  if (inner.indexOf('\\') === -1) return { value: inner, end: j + 1 };
  try {
    // JSON's escapes are a subset of YAML's; the rest go to the general parser.
    return { value: JSON.parse(`"${inner}"`) as string, end: j + 1 };
  } catch {
    throw new NotInSubset(no, 'an escape in a double-quoted value');
  }
}

/** `[a, "b", 'c']` on one line: scalars only. */
function flowList(s: string, no: number): unknown[] {
  const out: unknown[] = [];
  let i = 1;
  const skip = () => {
    while (s[i] === ' ') i++;
  };
  skip();
  if (s[i] === ']') {
    i++;
  } else {
    for (;;) {
      skip();
      if (s[i] === '"' || s[i] === "'") {
        const q = quoted(s, i, no);
        out.push(q.value);
        i = q.end;
      } else {
        let j = i;
        while (j < s.length && s[j] !== ',' && s[j] !== ']') j++;
        const item = s.slice(i, j).trim();
        if (item === '' || /[[{}#:]/.test(item)) throw new NotInSubset(no, 'a flow list with nested or empty items');
        out.push(plain(item, no));
        i = j;
      }
      skip();
      if (s[i] === ',') {
        i++;
        skip();
        if (s[i] === ']') throw new NotInSubset(no, 'a trailing comma in a flow list');
        continue;
      }
      if (s[i] === ']') {
        i++;
        break;
      }
      throw new NotInSubset(no, 'a flow list that does not end on its line');
    }
  }
  if (stripComment(s.slice(i)) !== '') throw new NotInSubset(no, 'text after a flow list');
  return out;
}

/** A plain scalar resolved as the core schema does. */
function plain(s: string, no: number): unknown {
  if (s === '') return null;
  if (PLAIN_START.test(s) || s.includes(': ') || s.endsWith(':') || s.includes(' #')) {
    throw new NotInSubset(no, 'a value the fast reader leaves to the general parser');
  }
  if (NULL.test(s)) return null;
  if (BOOL.test(s)) return s[0] === 't' || s[0] === 'T';
  const c = s.charCodeAt(0);
  // Only these can start a number.
  if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
    if (INT.test(s)) return Number(s);
    if (OTHER_NUMBER.test(s)) throw new NotInSubset(no, 'a non-decimal or fractional number');
  }
  return s;
}

/** `key: rest` or `key:` (rest ''); null when the line is not a mapping entry. */
function splitKey(l: { content: string; no: number }): { key: string; rest: string } | null {
  const s = l.content;
  let k: number;
  if (s[0] === '"') {
    let j = 1;
    while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
    k = j + 1;
    if (s[k] !== ':') return null;
  } else {
    k = s.indexOf(':');
    if (k === -1) return null;
  }
  if (k + 1 < s.length && s[k + 1] !== ' ') return null;
  const raw = s.slice(0, k);
  if (!KEY.test(raw)) throw new NotInSubset(l.no, 'a key the fast reader leaves to the general parser');
  let key: string;
  try {
    key = raw[0] === '"' ? (JSON.parse(raw) as string) : raw;
  } catch {
    throw new NotInSubset(l.no, 'an escape in a quoted key');
  }
  return { key, rest: s.slice(k + 1).trimStart() };
}

/** `s` without a trailing comment (one that starts the text or follows a blank), trimmed. */
function stripComment(s: string): string {
  if (s.startsWith('#')) return '';
  const h = s.indexOf(' #');
  return (h === -1 ? s : s.slice(0, h)).trim();
}
