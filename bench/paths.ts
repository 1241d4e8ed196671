// Where the benchmark finds the checkout and the compiled gateway.
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '..');
/** The compiled CLI, as production runs it (the `bin`, and the Docker image's entrypoint); run.ts builds it first. */
export const CLI = path.join(REPO, 'dist/cli.js');
