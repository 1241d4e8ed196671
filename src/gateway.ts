import { watch, type FSWatcher } from 'node:fs';
import type { CompiledService, CompileOptions } from './config/compile.ts';
import type { ServiceConfig } from './config/types.ts';
import { SpecError } from './config/problems.ts';
import { loadServiceOffThread } from './config/service-thread.ts';
import { openSpecSource } from './config/versions.ts';
import { loadVersion, RefusedVersion } from './config/version-loader.ts';
import { createConfigStatus } from './config/config-status.ts';
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
import { createQuotaRuntime, type QuotaEnforcer } from './quota/enforcer.ts';
import { createJwtAuthenticator } from './auth/jwt/authenticator.ts';
import { loadJwksFiles, type JwksFileEntry } from './auth/jwt/jwks-file.ts';
import { ASSERTION_JWKS_PATH, createAssertionSigner } from './auth/assertion.ts';
import type { SigninFlags } from './signin/index.ts';
import { composeLocalRoutes } from './signin/reserved.ts';
import { createIdTokenReporter, warmRetryDelay } from './backend/id-token-reporting.ts';
import { cacheFolderWarning } from './observability/cache-folders.ts';
import { warnIfKeysNeededWithoutStore } from './auth/apikeys/no-store-warning.ts';
import { corsSpecProblems, createCorsPreset } from './cors/preset.ts';
import { corsOptionsError } from './cors/options.ts';
import { createDiscoveryReadiness } from './auth/jwt/discovery-readiness.ts';

export interface GatewayOptions {
  /** A spec file, or a folder of config versions (src/config/versions.ts). */
  readonly specFile: string;
  /** With a folder: serve this config id (ESPv2's fixed rollout); the folder's pin file overrides it. */
  readonly configId?: string | undefined;
  /** Serve the API's docs page and sanitized spec under this path; off when undefined. */
  readonly docsPath?: string | undefined;
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
  /** --jwks-file: issuers whose keys come from a local JWKS file, never fetched. */
  readonly jwksFiles?: readonly JwksFileEntry[];
  /** --backend-address-override (ESPv2 --enable_backend_address_override): every call goes here, path translation off. */
  readonly backendAddressOverride?: string | undefined;
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
  /** ESPv2 --cors_preset and its --cors_* companions; undefined: no preset (allowCors still works). */
  readonly cors?: import('./cors/options.ts').CorsOptions | undefined;
  /** --validate: check traffic against the spec (default off). */
  readonly validate?: 'off' | 'report' | 'enforce';
  /** Browser sign-in (x-endpoints-signin): public URL, secret files, session lifetime. */
  readonly signin?: SigninFlags | undefined;
  readonly logger: Logger;
}

export interface Gateway {
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly listener: Listener;
  readonly metrics: GatewayMetrics | undefined;
  service(): CompiledService;
  readiness(): { ready: boolean; why: string };
  /** What GET /configz answers: the config served, the previous one, the last refused reload. */
  configz(): Record<string, unknown>;
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
  const corsError = opts.cors ? corsOptionsError(opts.cors) : undefined;
  if (corsError) throw new Error(corsError);
  const compileOpts: CompileOptions = {
    ...(opts.serviceName ? { serviceName: opts.serviceName } : {}),
    ...(opts.producerProject ? { producerProject: opts.producerProject } : {}),
    ...(opts.localBackend ? { localBackend: opts.localBackend } : {}),
    ...(opts.backendAddressOverride ? { backendAddressOverride: opts.backendAddressOverride } : {}),
  };

  // One quota runtime (one Redis client) for the process; each config's enforcer keeps unchanged limits' counters.
  const quotaRuntime = createQuotaRuntime({
    ...(opts.quotaStore ? { store: opts.quotaStore } : {}),
    ...(opts.quotaTimeoutMs !== undefined ? { storeTimeoutMs: opts.quotaTimeoutMs } : {}),
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  });
  const newQuota = (config: ServiceConfig, previous?: QuotaEnforcer): QuotaEnforcer | undefined =>
    config.quotaLimits.length > 0 ? quotaRuntime.enforcerFor(config.serviceName, config.quotaLimits, previous) : undefined;

  const cacheDir = opts.specCacheDir === undefined ? defaultCacheDir(process.env) : opts.specCacheDir || undefined;
  const cache = openSpecCache(cacheDir);
  const cacheWarning = cacheFolderWarning(cacheDir, cache !== undefined);
  if (cacheWarning) log.warn(cacheWarning.fields, cacheWarning.message);
  // Validation runs in a worker: a reload never stalls serving (a start compiles a cache hit here).
  // --spec may be a folder of versions; config ids, pinning and fall-through live in config/versions.ts.
  const source = await openSpecSource(opts.specFile, opts.configId);
  const docsMod = opts.docsPath !== undefined ? await import('./docs-page/docs-page.ts') : undefined;
  let skipped: RefusedVersion | undefined;
  // --validate: each loaded spec's contract is built before the spec is swapped in (ajv loads only then).
  const validation =
    opts.validate === 'report' || opts.validate === 'enforce'
      ? (await import('./validation/traffic-validation.ts')).createTrafficValidation({ mode: opts.validate, log, metrics: () => metrics })
      : undefined;
  // Sign-in's runtime (secrets, provider discovery, reserved routes) is set up at start for a spec
  // that uses it; a reload that adds or removes sign-in would leave it half on, so it is refused.
  let signinAtStart: boolean | undefined;
  const signinChangeProblems = (c: ServiceConfig) =>
    signinAtStart === undefined || Boolean(c.signin) === signinAtStart
      ? []
      : [{ where: 'securityDefinitions', message: `${signinAtStart ? 'removes' : 'adds'} browser sign-in (x-endpoints-signin), which takes effect only at start: restart the gateway to serve this spec` }];
  const readSpec = async (starting = false) => {
    const v = await loadVersion(source, starting, (file) => loadServiceOffThread(file, compileOpts, cache, { cacheHitsHere: starting }), {
      check: (c) => [
        ...(docsMod ? docsMod.docsPathProblems(c, opts.docsPath!) : []),
        ...(opts.cors ? corsSpecProblems(c) : []),
        ...signinChangeProblems(c),
      ],
      onSkip: (e) => {
        skipped ??= e;
        log.warn({ spec: e.file, config_id: e.configId, problems: e.lines(e.file) }, 'config version refused; trying the one before it');
      },
    });
    await validation?.prepare(v.service, v.file);
    return { service: v.service, digest: v.service.digest, file: v.file, selectedBy: v.selectedBy, configId: v.configId };
  };

  const first = await readSpec(true);
  for (const w of first.service.config.warnings ?? []) log.warn({ spec: first.file }, `spec warning: ${w}`);
  const status = createConfigStatus({
    configId: first.configId,
    version: first.service.config.version,
    spec: first.file,
    selectedBy: first.selectedBy,
    operations: first.service.config.operations.length,
  });
  if (skipped) status.refused({ configId: skipped.configId, spec: skipped.file, problems: skipped.lines(skipped.file) });
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
          onFetch: createIdTokenReporter(log),
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

  if (!keys) warnIfKeysNeededWithoutStore(state.service.config, log);

  const localJwks = opts.jwksFiles?.length ? await loadJwksFiles(opts.jwksFiles, log) : undefined;
  const jwt = createJwtAuthenticator({
    ...(localJwks ? { localKeys: localJwks } : {}),
    ...(opts.jwtCacheSize !== undefined ? { cacheSize: opts.jwtCacheSize } : {}),
    ...(opts.jwksCacheMs !== undefined ? { cacheMs: opts.jwksCacheMs } : {}),
    ...(opts.jwksCooldownMs !== undefined ? { cooldownMs: opts.jwksCooldownMs } : {}),
    onFetchError: (url, err) => log.warn({ url, err: err.message }, 'could not fetch JWT signing keys (JWKS)'),
  });
  const jwtSchemesOf = (config: ServiceConfig) => [...new Set(config.operations.flatMap((o) => o.security.jwtSchemes))];
  // Off Google Cloud (--backend-auth none) nothing is contacted at start: an issuer's keys are
  // fetched on the first token that needs them (and never with --jwks-file).
  // Issuers without x-google-jwks_uri are discovered at start, as ESPv2 does; not ready until they are.
  const discovery = createDiscoveryReadiness(
    jwt,
    (issuer, error, retryInMs) => log.warn({ issuer, error, retryInMs }, 'OpenID discovery failed: not ready; retrying'),
    warmRetryDelay,
  );
  const warmJwks = (config: ServiceConfig): void => {
    // Discovery gates readiness only where keys are fetched ahead (--backend-auth google): a CI job
    // serving a production spec offline must not wait for, or even try, an issuer it never calls,
    // and an issuer given --jwks-file needs no discovery at all.
    if (opts.backendAuth !== 'none') discovery.watch(jwtSchemesOf(config).filter((s) => !localJwks?.has(s.issuer)));
    else discovery.watch([]);
    for (const issuer of localJwks?.unused(jwtSchemesOf(config).map((s) => s.issuer)) ?? [])
      log.warn({ issuer }, '--jwks-file names an issuer that no operation of the spec accepts; its keys are unused');
    if (opts.backendAuth !== 'none') void jwt.prefetch(jwtSchemesOf(config));
  };
  const assertions = await createAssertionSigner({ keyFile: opts.signingKey });

  // Metrics are only readable on the admin listener: without it, nothing is counted.
  const metrics: GatewayMetrics | undefined =
    opts.adminPort === undefined
      ? undefined
      : (await import('./observability/metrics.ts')).createMetrics({ keys: () => keys, tokens: () => tokens, quota: () => state.quota, config: () => status.current() });
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
  const warmTokens = async (audiences: readonly string[], attempt = 1): Promise<void> => {
    if (!tokens || audiences.length === 0 || closed) return;
    if (await tokens.prefetch(audiences)) {
      tokensReady = true;
      return;
    }
    if (!closed) {
      // Backed off (2 s doubling to 60 s): off Google Cloud this never succeeds.
      retryTimer = setTimeout(() => void warmTokens(audiences, attempt + 1), warmRetryDelay(attempt));
      retryTimer.unref();
    }
  };
  const readiness = () => {
    if (draining) return { ready: false, why: 'shutting down' };
    if (!tokensReady) return { ready: false, why: 'no backend ID token yet' };
    const undiscovered = discovery.why();
    return undiscovered ? { ready: false, why: undiscovered } : { ready: true, why: '' };
  };

  // Sign-in loads only for specs that use it; it refuses to start without its secret and public URL.
  signinAtStart = Boolean(state.service.config.signin);
  const signin = state.service.config.signin
    ? await (await import('./signin/index.ts')).startSignin(opts.signin ?? {}, opts.trustedHops, () => state.service.config, (level, msg, fields) => log[level](fields ?? {}, msg))
    : undefined;
  const pipeline = createPipeline({
    signin,
    service: () => state.service,
    quota: () => state.quota,
    keys,
    tokens,
    trustedHops: opts.trustedHops,
    allowUnderscoreHeaders: opts.underscoresInHeaders ?? false,
    jwt,
    assertions,
    validate: validation?.checkRequest,
  });
  const proxy = createBackendProxy({
    retryOns: opts.backendRetryOns ?? DEFAULT_RETRY_ONS,
    retryNum: opts.backendRetryNum ?? 1,
    perTryTimeoutMs: opts.backendPerTryTimeoutMs,
    maxConnections: opts.backendMaxConnections ?? 1024,
    maxPending: opts.backendMaxPending ?? 1024,
    onUpstreamError: (req, kind, err) => {
      metrics?.upstreamError(kind);
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id, requestId: req.gw?.requestId }, 'upstream error');
    },
    onWarning: (msg, fields) => log.warn(fields ?? {}, msg),
    contract: validation?.proxy,
  });
  // The docs page publishes the bytes served: read as each config is swapped in, before the file can change again.
  const docsPage = docsMod?.createDocsPage(opts.docsPath!, () => ({ file: status.current().spec, digest: state.digest, serviceName: state.service.config.serviceName }));
  await docsPage?.prime();
  const app = createApp({
    pipeline,
    proxy,
    logger: log,
    ready: readiness,
    draining: () => draining,
    jwks: { path: ASSERTION_JWKS_PATH, body: assertions.jwksJson },
    cors: opts.cors ? createCorsPreset(opts.cors, () => state.service.router) : undefined,
    localRoutes: composeLocalRoutes(
      docsPage?.handle,
      signin?.routes,
    ),
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
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id, requestId: req.gw?.requestId }, 'upstream error (upgrade)');
    },
  });
  const listener = await listen(app, opts.port, opts.host, upgrades);
  let admin: Listener | undefined;
  if (metrics && opts.adminPort !== undefined) {
    const { adminHandler } = await import('./observability/admin.ts');
    admin = await listen(adminHandler(metrics.registry, readiness, status.configz), opts.adminPort, opts.host);
  }

  void warmTokens(state.service.config.audiences);
  warmJwks(state.service.config);

  let reloading: Promise<boolean> | undefined;
  const reload = (): Promise<boolean> => {
    // Reloads are serialized: a burst of file events makes one reload at a time.
    reloading = (reloading ?? Promise.resolve(true)).then(async () => {
      try {
        await localJwks?.reload(); // --jwks-file keys are re-read with the spec
        const next = await readSpec();
        for (const w of next.service.config.warnings ?? []) log.warn({ spec: next.file }, `spec warning: ${w}`);
        const old = state;
        const quota = sameLimits(old.service.config, next.service.config) ? old.quota : newQuota(next.service.config, old.quota);
        state = { service: next.service, quota, secretParams: secretParamsOf(next.service.config), digest: next.digest };
        const fresh = next.service.config.audiences.filter((a) => !old.service.config.audiences.includes(a));
        void warmTokens(fresh);
        warmJwks(next.service.config);
        metrics?.reload(true);
        const replaced = status.served({
          configId: next.configId,
          version: next.service.config.version,
          spec: next.file,
          selectedBy: next.selectedBy,
          operations: next.service.config.operations.length,
        });
        await docsPage?.prime();
        log.info(
          { config_id: next.configId, previous_config_id: replaced, spec: next.file, operations: next.service.config.operations.length, service: next.service.config.serviceName },
          'spec reloaded',
        );
        return true;
      } catch (err) {
        metrics?.reload(false);
        const file = err instanceof RefusedVersion ? err.file : opts.specFile;
        const configId = err instanceof RefusedVersion ? err.configId : undefined;
        const serving = status.current().configId;
        if (err instanceof SpecError) {
          status.refused({ configId, spec: file, problems: err.lines(file) });
          log.error({ spec: file, config_id: configId, serving_config_id: serving, problems: err.lines(file) }, 'spec reload refused: the new spec is invalid; still serving the previous one');
        } else {
          status.refused({ configId, spec: file, problems: [(err as Error)?.message ?? String(err)] });
          log.error({ err, spec: file, serving_config_id: serving }, 'spec reload failed; still serving the previous one');
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
    // With a folder, what would be loaded is the pinned or newest file: a new version or a pin change.
    let lastTried = `${first.file}\u0000${state.digest}`;
    watcher = watch(source.watchDir, () => {
      clearTimeout(debounce);
      debounce = setTimeout(async () => {
        const key = await source.probe();
        if (!key || key === lastTried) return;
        lastTried = key;
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
      config_id: first.configId,
      spec: first.file,
      selected_by: first.selectedBy,
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
    configz: status.configz,
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
      discovery.close();
      await quotaRuntime.close();
    },
  };
}
