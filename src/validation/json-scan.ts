/**
 * One pass over a JSON text, for what JSON.parse hides: how deeply it nests
 * (Ajv validates recursively: a body nested 10,000 deep against a recursive
 * schema would overflow the stack) and which object keys it repeats
 * (JSON.parse keeps the last silently; other parsers keep the first).
 *
 * Written here rather than taken from a streaming-parser package because it
 * needs none of a parser's work: the text has already been accepted by
 * JSON.parse, so this only tracks brackets, commas and key strings, in a loop
 * (no recursion) that stops at the first level past the limit.
 */

export type PathSegment = string | number;

export interface DuplicateKey {
  /** Where the object is, from the root. */
  readonly path: readonly PathSegment[];
  readonly key: string;
}

export type JsonScan = { readonly tooDeep: true } | { readonly tooDeep: false; readonly duplicates: readonly DuplicateKey[] };

/** Nesting allowed in a validated body: objects and arrays, 100 levels. */
export const MAX_JSON_DEPTH = 100;

interface Frame {
  /** undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** An object's last key, an array's current index. */
  at: PathSegment;
  expectKey: boolean;
}

const BACKSLASH = 0x5c;

/** Index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length - 1;
    // The quote is escaped when an odd number of backslashes precede it.
    let slashes = 0;
    while (text.charCodeAt(q - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q;
    i = q + 1;
  }
}

/** Scans `text`, which JSON.parse has accepted; `keys: false` only measures the depth. */
export function scanJson(text: string, opts: { readonly maxDepth?: number; readonly keys?: boolean } = {}): JsonScan {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const trackKeys = opts.keys ?? true;
  const frames: Frame[] = [];
  const duplicates: DuplicateKey[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const top = frames[frames.length - 1];
      if (trackKeys && top?.keys !== undefined && top.expectKey) {
        const raw = text.slice(i + 1, end);
        // Escapes decoded: `"\u006eame"` is the key `name`.
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.has(key)) duplicates.push({ path: frames.slice(0, -1).map((f) => f.at), key });
        else top.keys.add(key);
        top.at = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      if (frames.length >= maxDepth) return { tooDeep: true };
      frames.push(c === '{' ? { keys: new Set(), at: '', expectKey: true } : { keys: undefined, at: 0, expectKey: false });
    } else if (c === '}' || c === ']') {
      frames.pop();
    } else if (c === ',') {
      const top = frames[frames.length - 1];
      if (top === undefined) continue;
      if (top.keys !== undefined) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return { tooDeep: false, duplicates };
}

/** A path as a JSON pointer (`/a/0/b`), the way Ajv's errors place a problem. */
export function pointer(path: readonly PathSegment[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
