// Argument helpers every command shares, so a flag means and fails the same way everywhere.
import { InvalidArgumentError } from 'commander';
import { SpecError } from './config/problems.ts';
import type { SpecModel } from './contract/spec-model.ts';

/** A repeatable option's values, in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** A whole number within [min, max], or commander's usage error naming the flag. */
export function wholeNumber(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A spec's located problems on stderr, one per line; a folder's refused version names its own file. */
export function printSpecError(file: string, err: SpecError): void {
  for (const line of err.lines((err as { file?: string }).file ?? file)) process.stderr.write(`${line}\n`);
}

/** The spec model `contract` and `mock` work from; a spec with problems prints them, sets exit code 2 and gives undefined. */
export async function specModelOrExit(file: string): Promise<SpecModel | undefined> {
  const { loadSpecModel } = await import('./contract/spec-model.ts');
  try {
    return await loadSpecModel(file);
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    printSpecError(file, err);
    process.exitCode = 2;
    return undefined;
  }
}
