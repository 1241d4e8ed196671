/**
 * Checks a key value chosen by the user (`keys create --key`, `keys import`):
 * CI fixtures need a key they know in advance, but a store must never accept a
 * value that is guessable or that the gateway could not read from a request.
 * The messages never repeat the value: it is a credential.
 */

/** What the gateway accepts as a key at all (verifier.ts KEY_SHAPE), with a floor on length. */
const SHAPE = /^[A-Za-z0-9_\-.~]+$/;
export const MIN_KEY_LENGTH = 16;
export const MAX_KEY_LENGTH = 256;
/** "aaaaaaaaaaaaaaaa", "1234123412341234", "testtesttesttest": too few distinct characters to be a secret. */
const MIN_DISTINCT = 6;

export const KEY_VALUE_RULE =
  `${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters from A-Z a-z 0-9 - _ . ~, at least ${MIN_DISTINCT} of them different ` +
  '(e.g. `openssl rand -hex 20`)';

/** The problem with `value` as a key, or undefined when it is usable. */
export function knownKeyValueProblem(value: string): string | undefined {
  if (value.trim() === '') return 'is empty';
  if (value !== value.trim()) return 'has leading or trailing whitespace';
  if (!SHAPE.test(value)) return 'has characters a key cannot have (a key travels in a URL query or header unescaped)';
  if (value.length < MIN_KEY_LENGTH) return `is too short (${value.length} characters, at least ${MIN_KEY_LENGTH})`;
  if (value.length > MAX_KEY_LENGTH) return `is too long (${value.length} characters, at most ${MAX_KEY_LENGTH})`;
  if (new Set(value).size < MIN_DISTINCT) return `is too weak (fewer than ${MIN_DISTINCT} different characters)`;
  return undefined;
}

/** Throws with a message naming the rule when `value` cannot be a key. */
export function checkKnownKeyValue(value: string, label = '--key'): void {
  const problem = knownKeyValueProblem(value);
  if (problem) throw new Error(`${label} ${problem}; a key is ${KEY_VALUE_RULE}`);
}
