/**
 * Spec `pattern`s (and `patternProperties` names) meet request and response
 * data, so they run on re2js, a port of RE2: matching time is linear in the
 * input whatever the pattern, as in ESPv2, where a config's regexes are RE2's.
 * JavaScript's own engine backtracks, and one spec pattern such as
 * `^([a-z0-9]+\s?)*$` would freeze the process on a 41-character value.
 *
 * Patterns are written for ECMA-262; re2js's translation takes the spellings
 * the two differ on (`\uXXXX`, `(?<name>...)`, `\cX`); what RE2 lacks
 * (backreferences, lookaround, repeats over 1000) cannot be compiled and the
 * spec is refused at load (pattern-problems.ts), never at request time.
 */
import { RE2JS } from 're2js';
import type { Options } from 'ajv';

type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;

function compile(pattern: string): RE2JS {
  return RE2JS.compile(RE2JS.translateRegExp(pattern));
}

/** Why RE2 cannot take this pattern, or undefined when it can. */
export function linearPatternError(pattern: string): string | undefined {
  try {
    compile(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Ajv's `code.regExp`: called once per pattern at schema compile time. The
 * object's toString is Ajv's key for sharing one compiled pattern, so it
 * names the pattern (the default would make every pattern one).
 */
export const linearRegExp: RegExpEngine = Object.assign(
  (pattern: string) => {
    const re = compile(pattern);
    return { test: (s: string) => re.test(s), toString: () => `re2:${pattern}` };
  },
  // Ajv's standalone code generation names the engine by this; this gateway never emits standalone code.
  { code: 'linearRegExp' },
);
