// Writes the precompiled schema validators (src/config/*.generated.ts, Ajv standalone), so a start
// never compiles a schema. `--check` only compares, failing when a file is stale
// (test/config/schema-validators-generated.test.ts makes the same comparison).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { schemaValidatorsSources } from '../src/config/schema-validators-source.ts';

const check = process.argv.includes('--check');
for (const [name, source] of Object.entries(schemaValidatorsSources())) {
  const file = fileURLToPath(new URL(`../src/config/${name}`, import.meta.url));
  if (!check) writeFileSync(file, source);
  else if (readFileSync(file, 'utf8') !== source) {
    process.stderr.write(`${file} is stale: run npm run gen:validators\n`);
    process.exitCode = 1;
  }
}
