import type { ServiceConfig } from '../../config/types.ts';
import type { Logger } from '../../observability/logger.ts';

/** Operations that can ask for an API key (required, or one of their security alternatives). */
export function keyOperations(config: ServiceConfig): string[] {
  return config.operations
    .filter((op) => op.security.apiKeyRequired || op.security.alternatives.some((alt) => alt.some((s) => s.kind === 'apiKey')))
    .map((op) => op.id);
}

/**
 * `--keys none` is for specs that need no key (open or JWT-only APIs): when the
 * spec has operations that take a key, say at start that they will answer 503.
 */
export function warnIfKeysNeededWithoutStore(config: ServiceConfig, log: Logger): void {
  const ops = keyOperations(config);
  if (ops.length === 0) return;
  log.warn(
    { keys: 'none', operations: ops.length, examples: ops.slice(0, 5) },
    `--keys none: ${ops.length} operation(s) of this spec require an API key and will answer 503 to a caller who sends one (401 without); ` +
      'to check keys, use --keys file:keys.yaml (create keys with `endpoints-gateway keys create --store keys.yaml --project NUMBER`) or --keys google',
  );
}
