/**
 * A pattern where `*` stands for any run of characters (possibly empty) and
 * everything else is literal: the only wildcard in Google's referrer syntax.
 * Matched without regular expressions: a pattern like `/*\/*\/*\/x` compiled
 * to `^\/.*\/.*\/.*\/x$` backtracks polynomially on a long Referer (a 4 KB one
 * held the event loop for seconds), and browser keys are public.
 *
 * For `*`-only patterns, placing each literal between stars at its leftmost
 * occurrence after the previous one is optimal (it leaves the most room for
 * the rest), so one forward scan decides: O(length × longest literal).
 */
export class Wildcard {
  readonly source: string;
  /** The literal before the first `*` (the whole pattern when there is none). */
  readonly #head: string;
  /** The literal after the last `*`. */
  readonly #tail: string;
  /** The non-empty literals between stars, in order. */
  readonly #middle: readonly string[];
  readonly #hasStar: boolean;
  readonly #minLength: number;

  constructor(source: string) {
    this.source = source;
    const parts = source.split('*');
    this.#hasStar = parts.length > 1;
    this.#head = parts[0]!;
    this.#tail = this.#hasStar ? parts[parts.length - 1]! : '';
    this.#middle = parts.slice(1, -1).filter((p) => p.length > 0);
    let min = this.#head.length + this.#tail.length;
    for (const p of this.#middle) min += p.length;
    this.#minLength = min;
  }

  /** Whether the whole of `s` matches (anchored at both ends). */
  test(s: string): boolean {
    if (!this.#hasStar) return s === this.#head;
    if (s.length < this.#minLength || !s.startsWith(this.#head) || !s.endsWith(this.#tail)) return false;
    // Middle literals must fit between the head and the tail (they may not overlap either).
    const end = s.length - this.#tail.length;
    let pos = this.#head.length;
    for (const lit of this.#middle) {
      const at = s.indexOf(lit, pos);
      if (at < 0 || at + lit.length > end) return false;
      pos = at + lit.length;
    }
    return true;
  }
}
