import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CompiledService, CompileOptions } from './config/compile.ts';
import type { ServiceConfig } from './config/types.ts';
import { SpecError } from './config/problems.ts';
import { specDigest } from './config/service.ts';
import { loadServiceOffThread } from './config/service-thread.ts';
import { defaultCacheDir, openSpecCache } from './config/spec-cache.ts';
import { createPipeline } from './pipeline.ts';
import { createBackendProxy, DEFAULT_RETRY_ONS } from './backend/proxy.ts';
import { createUpgradeHandler } from './backend/websocket.ts';
import type { IdTokenSource } from './backend/id-tokens.ts';
import { createApp, listen, type Listener } from './server.ts';
import type { Logger } from './observability/logger.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import { ALWAYS_SECRET_PARAMS, createAccessLog } from './observability/access-log.ts';
import { createKeyVerifierFromOption } from './auth/apikeys/from-option.ts';
import type { ApiKeyVerifier } from './auth/apikeys/verifier.ts';
import { createQuotaEnforcer, type QuotaEnforcer } from './quota/enforcer.ts';
import { createJwtAuthenticator } from './auth/jwt/authenticator.ts';
import { ASSERTION_JWKS_PATH, createAssertionSigner } from './auth/assertion.ts';

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
  /** Admin listener for /metrics, /healthz, /readyz; off when undefined. */
  readonly adminPort?: number | undefined;
  readonly accessLog?: boolean;
  /** Project of the Cloud Trace ids in access logs (default $GOOGLE_CLOUD_PROJECT). */
  readonly traceProject?: string | undefined;
  /** Reload the spec when its file changes. */
  readonly watch?: boolean;
  /** Validated-spec cache folder; '' disables it; default $ENDPOINTS_CACHE_DIR or a private temp folder. */
  readonly specCacheDir?: string | undefined;
  /** PEM private key (EC P-256 or RSA) for X-Endpoints-Gateway-Assertion; generated at start when absent. */
  readonly signingKey?: string | undefined;
  /** Verified end-user JWTs kept (ESPv2 --jwt_cache_size, default 1000). */
  readonly jwtCacheSize?: number;
  /** How long fetched JWKS are used (ESPv2 --jwks_cache_duration_in_s, default 5 min). */
  readonly jwksCacheMs?: number;
  /** Minimum time between JWKS refetches caused by an unknown `kid` (default 30 s). */
  readonly jwksCooldownMs?: number;
  /** ESPv2 --backend_retry_ons: the conditions a backend call is retried on. */
  readonly backendRetryOns?: readonly string[];
  /** ESPv2 --backend_retry_num: retries after the first try (default 1). */
  readonly backendRetryNum?: number;
  /** ESPv2 --backend_per_try_timeout: each try's own deadline; undefined: only the operation's deadline. */
  readonly backendPerTryTimeoutMs?: number | undefined;
  /** Connections per backend origin (Envoy's circuit breaker default as ESPv2 sets it: 1,024). */
  readonly backendMaxConnections?: number;
  /** Requests waiting for a connection per origin before new ones get 503 at once. */
  readonly backendMaxPending?: number;
  /** WebSocket upgrades (ESPv2 has them on). */
  readonly websockets?: boolean;
  readonly logger: Logger;
}

export interface Gateway {
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly listener: Listener;
  readonly metrics: GatewayMetrics | undefined;
  service(): CompiledService;
  readiness(): { ready: boolean; why: string };
  /** Load the spec again; swap it in when valid, keep the old one otherwise. Resolves whether it swapped. */
  reload(): Promise<boolean>;
  /** Graceful stop: not ready, stop accepting, finish in-flight requests up to graceMs, release everything. */
  close(graceMs?: number): Promise<void>;
}

/** The per-spec runtime: swapped as one unit on a reload. */
interface State {
  readonly service: CompiledService;
  readonly quota: QuotaEnforcer | undefined;
  readonly secretParams: ReadonlySet<string>;
  readonly digest: string;
}

function secretParamsOf(config: ServiceConfig): ReadonlySet<string> {
  const names = new Set(ALWAYS_SECRET_PARAMS);
  for (const op of config.operations) {
    for (const l of op.security.apiKeyLocations) if (l.in === 'query') names.add(l.name);
    for (const alt of op.security.alternatives) {
      for (const s of alt) if (s.kind === 'jwt') for (const l of s.locations) if (l.in === 'query') names.add(l.name);
    }
  }
  return names;
}

function sameLimits(a: ServiceConfig, b: ServiceConfig): boolean {
  return JSON.stringify(a.quotaLimits) === JSON.stringify(b.quotaLimits) && a.serviceName === b.serviceName;
}

/** Loads the spec and every dependency, then listens. Throws SpecError on a bad spec, before listening. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.logger;
  const compileOpts: CompileOptions = {
    ...(opts.serviceName ? { serviceName: opts.serviceName } : {}),
    ...(opts.producerProject ? { producerProject: opts.producerProject } : {}),
    ...(opts.localBackend ? { localBackend: opts.localBackend } : {}),
  };

  const newQuota = (config: ServiceConfig): QuotaEnforcer | undefined =>
    config.quotaLimits.length > 0
      ? createQuotaEnforcer({
          serviceName: config.serviceName,
          limits: config.quotaLimits,
          ...(opts.quotaStore ? { store: opts.quotaStore } : {}),
          ...(opts.quotaTimeoutMs !== undefined ? { storeTimeoutMs: opts.quotaTimeoutMs } : {}),
          log: (level, msg, fields) => log[level](fields ?? {}, msg),
        })
      : undefined;

  const cache = openSpecCache(opts.specCacheDir === undefined ? defaultCacheDir(process.env) : opts.specCacheDir || undefined);
  // Validation runs in a worker: a reload never stalls serving (a start compiles a cache hit here).
  const readSpec = async (starting = false) => {
    const service = await loadServiceOffThread(opts.specFile, compileOpts, cache, { cacheHitsHere: starting });
    return { service, digest: service.digest };
  };

  const first = await readSpec(true);
  let state: State = {
    service: first.service,
    quota: newQuota(first.service.config),
    secretParams: secretParamsOf(first.service.config),
    digest: first.digest,
  };
  if (state.quota) await state.quota.ready(2000);

  // Optional parts load only when used: each costs start-up time (google-auth-library, prom-client).
  const tokens: IdTokenSource | undefined =
    opts.backendAuth === 'google'
      ? (await import('./backend/id-tokens.ts')).createGoogleIdTokenSource({
          onFetch: (audience, ok, ms, error) => {
            if (!ok) log.warn({ audience, ms, err: error?.message }, 'could not get a backend ID token');
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

  const jwt = createJwtAuthenticator({
    ...(opts.jwtCacheSize !== undefined ? { cacheSize: opts.jwtCacheSize } : {}),
    ...(opts.jwksCacheMs !== undefined ? { cacheMs: opts.jwksCacheMs } : {}),
    ...(opts.jwksCooldownMs !== undefined ? { cooldownMs: opts.jwksCooldownMs } : {}),
    onFetchError: (url, err) => log.warn({ url, err: err.message }, 'could not fetch JWT signing keys (JWKS)'),
  });
  const jwtSchemesOf = (config: ServiceConfig) => [...new Set(config.operations.flatMap((o) => o.security.jwtSchemes))];
  const assertions = await createAssertionSigner({ keyFile: opts.signingKey });

  // Metrics are only readable on the admin listener: without it, nothing is counted.
  const metrics: GatewayMetrics | undefined =
    opts.adminPort === undefined
      ? undefined
      : (await import('./observability/metrics.ts')).createMetrics({ keys: () => keys, tokens: () => tokens, quota: () => state.quota });
  const accessLog =
    opts.accessLog === false
      ? undefined
      : createAccessLog({ logger: log, traceProject: opts.traceProject ?? process.env.GOOGLE_CLOUD_PROJECT, secretParams: () => state.secretParams });

  // Readiness: the spec is compiled (it is, once we get here) and every backend
  // that needs an ID token has had one; false again while draining.
  let tokensReady = !tokens || state.service.config.audiences.length === 0;
  let draining = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const warmTokens = async (audiences: readonly string[]): Promise<void> => {
    if (!tokens || audiences.length === 0 || closed) return;
    if (await tokens.prefetch(audiences)) {
      tokensReady = true;
      return;
    }
    if (!closed) {
      retryTimer = setTimeout(() => void warmTokens(audiences), 2000);
      retryTimer.unref();
    }
  };
  const readiness = () =>
    draining ? { ready: false, why: 'shutting down' } : tokensReady ? { ready: true, why: '' } : { ready: false, why: 'no backend ID token yet' };

  const pipeline = createPipeline({
    service: () => state.service,
    quota: () => state.quota,
    keys,
    tokens,
    trustedHops: opts.trustedHops,
    allowUnderscoreHeaders: opts.underscoresInHeaders ?? false,
    jwt,
    assertions,
  });
  const proxy = createBackendProxy({
    retryOns: opts.backendRetryOns ?? DEFAULT_RETRY_ONS,
    retryNum: opts.backendRetryNum ?? 1,
    perTryTimeoutMs: opts.backendPerTryTimeoutMs,
    maxConnections: opts.backendMaxConnections ?? 1024,
    maxPending: opts.backendMaxPending ?? 1024,
    onUpstreamError: (req, kind, err) => {
      metrics?.upstreamError(kind);
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id }, 'upstream error');
    },
    onWarning: (msg, fields) => log.warn(fields ?? {}, msg),
  });
  const app = createApp({
    pipeline,
    proxy,
    logger: log,
    ready: readiness,
    draining: () => draining,
    jwks: { path: ASSERTION_JWKS_PATH, body: assertions.jwksJson },
    onFinish:
      accessLog && metrics
        ? (req, res) => {
            metrics.observe(req, res);
            accessLog(req, res);
          }
        : (accessLog ?? metrics?.observe),
  });
  // WebSocket upgrades: the same pipeline, then a tunnel (ESPv2 always allows them).
  const upgrades = createUpgradeHandler({
    run: pipeline.run,
    enabled: opts.websockets ?? true,
    logger: log,
    onUpstreamError: (req, kind, err) => {
      metrics?.upstreamError(kind);
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id }, 'upstream error (upgrade)');
    },
  });
  const listener = await listen(app, opts.port, opts.host, upgrades);
  let admin: Listener | undefined;
  if (metrics && opts.adminPort !== undefined) {
    const { adminHandler } = await import('./observability/admin.ts');
    admin = await listen(adminHandler(metrics.registry, readiness), opts.adminPort, opts.host);
  }

  void warmTokens(state.service.config.audiences);
  void jwt.prefetch(jwtSchemesOf(state.service.config));

  let reloading: Promise<boolean> | undefined;
  const reload = (): Promise<boolean> => {
    // Reloads are serialized: a burst of file events makes one reload at a time.
    reloading = (reloading ?? Promise.resolve(true)).then(async () => {
      try {
        const next = await readSpec();
        const old = state;
        const quota = sameLimits(old.service.config, next.service.config) ? old.quota : newQuota(next.service.config);
        state = { service: next.service, quota, secretParams: secretParamsOf(next.service.config), digest: next.digest };
        if (quota !== old.quota && old.quota) {
          // Requests already past the quota stage hold no reference; close after they drain.
          setTimeout(() => void old.quota?.close(), 30_000).unref();
        }
        const fresh = next.service.config.audiences.filter((a) => !old.service.config.audiences.includes(a));
        void warmTokens(fresh);
        void jwt.prefetch(jwtSchemesOf(next.service.config));
        metrics?.reload(true);
        log.info({ operations: next.service.config.operations.length, service: next.service.config.serviceName }, 'spec reloaded');
        return true;
      } catch (err) {
        metrics?.reload(false);
        if (err instanceof SpecError) {
          log.error({ problems: err.lines(opts.specFile) }, 'spec reload refused: the new spec is invalid; still serving the previous one');
        } else {
          log.error({ err }, 'spec reload failed; still serving the previous one');
        }
        return false;
      }
    });
    return reloading;
  };

  // Watch the directory, not the file: editors and Kubernetes ConfigMaps replace
  // files (rename, symlink swap), which a file watch would lose.
  let watcher: FSWatcher | undefined;
  if (opts.watch) {
    let debounce: NodeJS.Timeout | undefined;
    // The digest of the bytes last tried, refused ones included: any event in the
    // folder (the gateway's own log file, an editor's swap file) triggers a look,
    // but only new spec bytes trigger a reload, so a refused spec is tried once.
    let lastTried = state.digest;
    watcher = watch(path.dirname(path.resolve(opts.specFile)), () => {
      clearTimeout(debounce);
      debounce = setTimeout(async () => {
        const text = await readFile(opts.specFile).catch(() => undefined);
        if (!text) return;
        const digest = specDigest(text);
        if (digest === lastTried) return;
        lastTried = digest;
        void reload();
      }, 150);
      debounce.unref();
    });
    watcher.unref();
  }

  log.info(
    {
      port: listener.port,
      adminPort: admin?.port,
      service: state.service.config.serviceName,
      operations: state.service.config.operations.length,
      keys: opts.keys.split(':')[0],
      quotaStore: state.quota?.store,
      backendAuth: opts.backendAuth,
    },
    'endpoints-gateway listening',
  );

  return {
    port: listener.port,
    adminPort: admin?.port,
    listener,
    metrics,
    service: () => state.service,
    readiness,
    reload,
    close: async (graceMs) => {
      draining = true;
      watcher?.close();
      await listener.close(graceMs);
      upgrades.close();
      await proxy.close();
      closed = true;
      clearTimeout(retryTimer);
      await admin?.close(0);
      tokens?.close();
      keys?.close();
      jwt.close();
      await state.quota?.close();
    },
  };
}
