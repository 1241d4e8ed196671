import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { SpecError } from './problems.ts';

/**
 * Reads endpoint.yaml (YAML or JSON: JSON is YAML) into a plain object.
 * Parse errors become SpecErrors with the line and column, never a stack trace.
 */
export async function readSpecFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SpecError(file, [{ where: '', message: `cannot read the spec file (${code})` }]);
  }
  return parseSpecText(file, text);
}

export function parseSpecText(file: string, text: string): unknown {
  let doc: unknown;
  try {
    // maxAliasCount bounds YAML alias expansion ("billion laughs").
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const e = err as { message?: string; linePos?: { line: number; col: number }[] };
    const pos = e.linePos?.[0];
    const msg = (e.message ?? 'unparsable').split('\n')[0] ?? 'unparsable';
    throw new SpecError(file, [{ where: pos ? `line ${pos.line}, column ${pos.col}` : '', message: `not valid YAML or JSON: ${msg}` }]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SpecError(file, [{ where: '', message: 'the spec must be an OpenAPI 2.0 object (swagger: "2.0")' }]);
  }
  return doc;
}
