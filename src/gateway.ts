import type { CompiledService } from './config/compile.ts';
import { loadService } from './config/service.ts';
import { createPipeline } from './pipeline.ts';
import { createBackendProxy } from './backend/proxy.ts';
import { createGoogleIdTokenSource, type IdTokenSource } from './backend/id-tokens.ts';
import { createApp, listen, type Listener } from './server.ts';
import type { Logger } from './observability/logger.ts';
import { createKeyVerifierFromOption } from './auth/apikeys/from-option.ts';
import type { ApiKeyVerifier } from './auth/apikeys/verifier.ts';
import { createQuotaEnforcer, type QuotaEnforcer } from './quota/enforcer.ts';

export interface GatewayOptions {
  readonly specFile: string;
  readonly port: number;
  readonly host?: string | undefined;
  readonly serviceName?: string | undefined;
  readonly producerProject?: string | undefined;
  /** ESPv2's --backend: where operations without an address go. */
  readonly localBackend?: string | undefined;
  readonly backendAuth: 'google' | 'none';
  /** `google`, `file:PATH` or `none`. */
  readonly keys: string;
  readonly apikeysEndpoint?: string | undefined;
  readonly keysFailOpen?: boolean;
  readonly keyCacheSize?: number;
  readonly keyRefreshMs?: number;
  readonly keyMaxAgeMs?: number;
  readonly keyNegativeTtlMs?: number;
  readonly quotaStore?: string | undefined;
  readonly quotaTimeoutMs?: number;
  readonly trustedHops: number;
  readonly underscoresInHeaders?: boolean;
  readonly logger: Logger;
}

export interface Gateway {
  readonly port: number;
  readonly listener: Listener;
  service(): CompiledService;
  close(graceMs?: number): Promise<void>;
}

/** Loads the spec and every dependency, then listens. Throws SpecError on a bad spec, before listening. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.logger;
  const compileOpts = {
    ...(opts.serviceName ? { serviceName: opts.serviceName } : {}),
    ...(opts.producerProject ? { producerProject: opts.producerProject } : {}),
    ...(opts.localBackend ? { localBackend: opts.localBackend } : {}),
  };
  let current = await loadService(opts.specFile, compileOpts);
  const config = current.config;

  const tokens: IdTokenSource | undefined =
    opts.backendAuth === 'google'
      ? createGoogleIdTokenSource({
          onFetch: (audience, ok, ms) => {
            if (!ok) log.warn({ audience, ms }, 'could not get a backend ID token');
          },
        })
      : undefined;

  const keys: ApiKeyVerifier | undefined = await createKeyVerifierFromOption(opts.keys, {
    apikeysEndpoint: opts.apikeysEndpoint,
    failOpen: opts.keysFailOpen ?? false,
    maxEntries: opts.keyCacheSize,
    refreshMs: opts.keyRefreshMs,
    maxAgeMs: opts.keyMaxAgeMs,
    negativeTtlMs: opts.keyNegativeTtlMs,
    log,
  });

  const quota: QuotaEnforcer | undefined =
    config.quotaLimits.length > 0
      ? createQuotaEnforcer({
          serviceName: config.serviceName,
          limits: config.quotaLimits,
          ...(opts.quotaStore ? { store: opts.quotaStore } : {}),
          ...(opts.quotaTimeoutMs !== undefined ? { storeTimeoutMs: opts.quotaTimeoutMs } : {}),
          log: (level, msg, fields) => log[level](fields ?? {}, msg),
        })
      : undefined;

  const pipeline = createPipeline({
    service: () => current,
    keys,
    quota,
    tokens,
    trustedHops: opts.trustedHops,
    allowUnderscoreHeaders: opts.underscoresInHeaders ?? false,
  });
  const proxy = createBackendProxy({
    onUpstreamError: (req, kind, err) => log.warn({ kind, err: err.message, operation: req.gw?.op?.id }, 'upstream error'),
  });
  const app = createApp({ pipeline, proxy, logger: log });
  const listener = await listen(app, opts.port, opts.host);

  if (tokens && config.audiences.length > 0) {
    // Warm the token cache so the first calls do not wait; failures are retried per request.
    void tokens.prefetch(config.audiences);
  }
  log.info(
    { port: listener.port, service: config.serviceName, operations: config.operations.length, keys: opts.keys.split(':')[0], backendAuth: opts.backendAuth },
    'endpoints-gateway listening',
  );

  return {
    port: listener.port,
    listener,
    service: () => current,
    close: async (graceMs) => {
      await listener.close(graceMs);
      tokens?.close();
      keys?.close();
      await quota?.close();
    },
  };
}
