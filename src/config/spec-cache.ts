import { hash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Json } from './openapi.ts';

/**
 * A cache of validated specs, so a start with a spec already validated by
 * this same gateway build skips the expensive part (YAML parsing and the
 * OpenAPI and extension schema checks: most of a cold start on a large spec).
 *
 * An entry is the validated, dereferenced document, stored under a key that
 * covers the spec's exact bytes and this build's validator; anything else is
 * a miss and the spec is validated as usual. Only this user's private
 * directory is used (mode 0700, owned by us), since an entry is trusted.
 * Docker images warm it at build time with `endpoints-gateway validate`.
 */
export interface SpecCache {
  /** The folder (a spec-loading worker opens its own cache there). */
  readonly dir: string;
  key(specText: string): string;
  /** Where the entry of a key is (whether it exists is all a start's first glance needs). */
  entryFile(key: string): string;
  get(key: string): Json | undefined;
  put(key: string, api: Json): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** What identifies this build's validator: the extension schema and the validating code. */
function validatorFingerprint(): string {
  const parts: string[] = [];
  const schema = path.resolve(here, '../../openapi/x-google-extensions.schema.json');
  parts.push(readFileSync(schema, 'utf8'));
  for (const name of ['validate', 'schema-errors', 'load', 'ref-expansion', 'swagger2-validator.generated', 'extension-validators.generated']) {
    for (const ext of ['.ts', '.js']) {
      try {
        const st = statSync(path.join(here, name + ext));
        parts.push(`${name}${ext}:${st.size}:${st.mtimeMs}`);
      } catch {
        /* only one of .ts/.js exists */
      }
    }
  }
  try {
    parts.push(readFileSync(path.resolve(here, '../../package.json'), 'utf8'));
  } catch {
    /* running without package.json: the other parts still separate builds */
  }
  return hash('sha256', parts.join('\u0000'), 'hex');
}

/** $ENDPOINTS_CACHE_DIR, or a per-user folder in the temp dir; `off` disables the cache. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const v = env.ENDPOINTS_CACHE_DIR;
  if (v === 'off' || v === '') return undefined;
  return v ?? path.join(tmpdir(), `endpoints-gateway-${process.getuid?.() ?? 'user'}`);
}

/** A private cache directory, or undefined when it cannot be made safe. */
export function openSpecCache(dir: string | undefined): SpecCache | undefined {
  if (!dir) return undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const fingerprint = validatorFingerprint();
  const file = (key: string) => path.join(dir, `spec-${key}.json`);
  return {
    dir,
    key: (specText) => hash('sha256', `${fingerprint}\u0000${specText}`, 'hex'),
    entryFile: file,
    get(key) {
      try {
        const entry = JSON.parse(readFileSync(file(key), 'utf8')) as { key?: string; api?: Json };
        return entry.key === key && entry.api && typeof entry.api === 'object' ? entry.api : undefined;
      } catch {
        return undefined;
      }
    },
    put(key, api) {
      try {
        // A document with reference cycles cannot be stored as JSON: it is simply not cached.
        const text = JSON.stringify({ key, api });
        const tmp = `${file(key)}.${process.pid}.tmp`;
        writeFileSync(tmp, text, { mode: 0o600 });
        renameSync(tmp, file(key));
      } catch {
        /* the cache is an optimisation: failing to write it changes nothing */
      }
    },
  };
}
