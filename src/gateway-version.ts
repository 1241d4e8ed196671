import { readFileSync } from 'node:fs';

/** The gateway's own version, from its package.json (beside src/ and dist/, and in the image). */
export function gatewayVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
