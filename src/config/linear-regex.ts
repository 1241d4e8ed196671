/**
 * Regular expressions that come from configuration (flags, the spec) and meet
 * request data. ESPv2 hands these to Envoy, which compiles them with RE2: its
 * matching time is linear in the input, so no header can freeze the proxy.
 * V8's backtracking engine can take exponential time on the same patterns
 * (`^https://(.*\.)*example\.com$` and a 121-byte Origin never finish), so
 * these run on re2js, a port of RE2 with its syntax and its linear bound.
 *
 * What RE2 cannot take (backreferences, lookaround, possessive quantifiers) is
 * refused when the configuration is read, never when a request arrives.
 */
import { RE2JS, RE2JSException } from 're2js';

export class LinearRegexError extends Error {}

export interface LinearRegexOptions {
  /**
   * Refuse patterns whose compiled program has more instructions than this:
   * ESPv2 does so for its own regexes (util.ValidateRegexProgramSize, 1000 for
   * the CORS origin regex), as RE2's cost grows with program size.
   */
  readonly maxProgramSize?: number;
}

/** Explains the RE2 errors people meet when they bring a pattern written for a backtracking engine. */
function hint(source: string, message: string): string {
  if (/invalid escape sequence: `\\[1-9]/.test(message)) return ' (backreferences are not supported: RE2 matches in linear time)';
  if (/\(\?<?[=!]/.test(source) && /unsupported Perl syntax|invalid named capture/.test(message)) return ' (lookahead and lookbehind are not supported: RE2 matches in linear time)';
  if (/nested repetition operator: `[*+?}]\+`/.test(message)) return ' (possessive quantifiers are not supported by RE2)';
  return '';
}

export class LinearRegex {
  readonly source: string;
  readonly #re: RE2JS;

  private constructor(source: string, re: RE2JS) {
    this.source = source;
    this.#re = re;
  }

  /** Compiles `source` with RE2 syntax; throws LinearRegexError with a one-line reason. */
  static compile(source: string, opts: LinearRegexOptions = {}): LinearRegex {
    let re: RE2JS;
    try {
      re = RE2JS.compile(source);
    } catch (err) {
      if (!(err instanceof RE2JSException)) throw err;
      throw new LinearRegexError(`${err.message}${hint(source, err.message)}`);
    }
    const size = re.programSize();
    if (opts.maxProgramSize !== undefined && size > opts.maxProgramSize) {
      throw new LinearRegexError(`regex program size (${size}) is larger than the maximum of ${opts.maxProgramSize}`);
    }
    return new LinearRegex(source, re);
  }

  /** The reason `source` cannot be compiled, or undefined when it can. */
  static problem(source: string, opts: LinearRegexOptions = {}): string | undefined {
    try {
      LinearRegex.compile(source, opts);
      return undefined;
    } catch (err) {
      if (err instanceof LinearRegexError) return err.message;
      throw err;
    }
  }

  /** Whether the pattern matches somewhere in `s`, as RegExp.prototype.test. */
  test(s: string): boolean {
    return this.#re.test(s);
  }

  /** Whether the pattern matches the whole of `s` (RE2::FullMatch, Envoy's safe_regex string matching). */
  matchesWhole(s: string): boolean {
    return this.#re.matches(s);
  }
}
