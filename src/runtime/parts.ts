/**
 * The parts that live as long as the process, whatever spec is served: the
 * key verifier, JWT verification, ID tokens, the assertion signer, traffic
 * validation, metrics and the access log, the backend pools, the quota
 * store. Each is registered with the Lifetime as it is made, so one close()
 * stops them in the reverse order. Optional parts load only when used: each
 * costs start-up time (google-auth-library, prom-client, ajv).
 */
import type { IncomingMessage } from 'node:http';
import type { ServiceConfig } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics, MetricSources } from '../observability/metrics.ts';
import { createAccessLog, traceLogFields, type Outcome } from '../observability/access-log.ts';
import { createLogFieldWriter } from '../observability/log-fields.ts';
import type { Tracing } from '../tracing/tracing.ts';
import { decideTracing } from '../tracing/flags.ts';
import { createKeyVerifierFromOption } from '../auth/apikeys/from-option.ts';
import type { ApiKeyVerifier } from '../auth/apikeys/verifier.ts';
import { createJwtAuthenticator, type JwtAuthenticator } from '../auth/jwt/authenticator.ts';
import { loadJwksFiles, type LocalJwks } from '../auth/jwt/jwks-file.ts';
import { createAssertionSigner, type AssertionSigner } from '../auth/assertion.ts';
import type { IdTokenSource } from '../backend/id-tokens.ts';
import { createIdTokenReporter } from '../backend/id-token-reporting.ts';
import { createBackendProxy } from '../backend/proxy.ts';
import { createHeaderRules } from '../backend/header-rules.ts';
import { DEFAULT_BUFFER_LIMIT } from '../backend/body-limit.ts';
import { createQuotaRuntime, type QuotaEnforcer, type QuotaRuntime } from '../quota/enforcer.ts';
import type { TrafficValidation } from '../validation/traffic-validation.ts';
import { DEFAULTS, type GatewayOptions } from './options.ts';
import type { Lifetime } from './lifetime.ts';
import { openBackendTls, wantsBackendTls } from '../tls/backend-tls.ts';
import { workerRole } from '../workers/role.ts';
import type { BackendTlsOverrides } from '../tls/backend-tls-overrides.ts';

export interface ProcessParts {
  readonly keys: ApiKeyVerifier | undefined;
  readonly jwt: JwtAuthenticator;
  readonly localJwks: LocalJwks | undefined;
  readonly tokens: IdTokenSource | undefined;
  readonly assertions: AssertionSigner;
  readonly validation: TrafficValidation | undefined;
  /** Only with --admin-port: metrics are readable nowhere else, so without it nothing is counted. */
  readonly metrics: GatewayMetrics | undefined;
  readonly accessLog: ((req: IncomingMessage, outcome: Outcome) => void) | undefined;
  readonly proxy: ReturnType<typeof createBackendProxy>;
  /** Owns the quota store (one Redis client) and the counters' stats, across reloads. */
  readonly quota: QuotaRuntime;
  /** The quota limiters of a config; those of limits the previous config had unchanged carry on, counters and all. */
  quotaFor(config: ServiceConfig, previous: QuotaEnforcer | undefined): Promise<QuotaEnforcer | undefined>;
  /** undefined: tracing off (nothing of src/tracing/ runs per request). */
  readonly tracing: Tracing | undefined;
  /** x-endpoints-tls credentials: opened as specs load, released on swaps. */
  readonly backendTlsOverrides: BackendTlsOverrides | undefined;
  /** The Cloud project named in log lines' trace field (the access log's, the error lines'). */
  readonly traceProject: string | undefined;
}

export async function createProcessParts(
  opts: GatewayOptions,
  life: Lifetime,
  sources: { readonly config: MetricSources['config'] },
  backendTlsOverrides?: BackendTlsOverrides,
): Promise<ProcessParts> {
  const log = opts.logger;
  // In a cluster worker, API Keys lookups, ID tokens and JWKS fetches are made by the primary, once for all workers.
  const viaPrimary = workerRole() ? (await import('../workers/upstream-calls.ts')).workerUpstreamCalls() : undefined;
  const keys = await createKeyVerifierFromOption(opts.keys, {
    viaPrimary,
    apikeysEndpoint: opts.apikeysEndpoint,
    failOpen: opts.keysFailOpen ?? false,
    maxEntries: opts.keyCacheSize ?? DEFAULTS.keyCacheSize,
    refreshMs: opts.keyRefreshMs ?? DEFAULTS.keyRefreshMs,
    maxAgeMs: opts.keyMaxAgeMs ?? DEFAULTS.keyMaxAgeMs,
    negativeTtlMs: opts.keyNegativeTtlMs ?? DEFAULTS.keyNegativeTtlMs,
    log,
  });
  life.add('api keys', () => keys?.close());

  const localJwks = opts.jwksFiles?.length ? await loadJwksFiles(opts.jwksFiles, log) : undefined;
  const jwt = createJwtAuthenticator({
    ...(localJwks ? { localKeys: localJwks } : {}),
    cacheSize: opts.jwtCacheSize ?? DEFAULTS.jwtCacheSize,
    cacheMs: opts.jwksCacheMs ?? DEFAULTS.jwksCacheMs,
    ...(opts.jwksCooldownMs !== undefined ? { cooldownMs: opts.jwksCooldownMs } : {}),
    onFetchError: (url, err) => log.warn({ url, err: err.message }, 'could not fetch JWT signing keys (JWKS)'),
    ...(viaPrimary ? { fetchKeys: (url: string, o: RequestInit) => viaPrimary.jwks(url, o, opts.jwksCacheMs ?? DEFAULTS.jwksCacheMs, 5_000) } : {}),
  });
  life.add('jwt', () => jwt.close());

  const tokens: IdTokenSource | undefined =
    opts.backendAuth === 'google' ? (await import('../backend/id-tokens.ts')).createGoogleIdTokenSource({ onFetch: createIdTokenReporter(log), ...(viaPrimary ? { fetchIdToken: viaPrimary.idToken } : {}) }) : undefined;
  life.add('id tokens', () => tokens?.close());
  const assertions = await createAssertionSigner({ keyFile: opts.signingKey });

  // One quota runtime for the process (one Redis client); each config's limiters reuse those of unchanged limits.
  const quota = createQuotaRuntime({
    ...(opts.quotaStore ? { store: opts.quotaStore } : {}),
    storeTimeoutMs: opts.quotaTimeoutMs ?? DEFAULTS.quotaTimeoutMs,
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  });
  life.add('quota', () => quota.close());
  const quotaFor = async (config: ServiceConfig, previous: QuotaEnforcer | undefined): Promise<QuotaEnforcer | undefined> => {
    if (config.quotaLimits.length === 0) return undefined;
    const q = quota.enforcerFor(config.serviceName, config.quotaLimits, previous);
    await q.ready(2000);
    return q;
  };

  // Made before metrics exist (it counts violations through them), so it reads them when it counts.
  let metrics: GatewayMetrics | undefined;
  const validation =
    opts.validate === 'report' || opts.validate === 'enforce'
      ? (await import('../validation/traffic-validation.ts')).createTrafficValidation({ mode: opts.validate, log, metrics: () => metrics, bodyLimit: opts.connectionBufferLimitBytes })
      : undefined;
  metrics =
    opts.adminPort === undefined
      ? undefined
      : (await import('../observability/metrics.ts')).createMetrics({ keys: () => keys, tokens: () => tokens, quota: () => quota, config: sources.config });
  // Loaded only when on: the SDK and its exporter cost start-up time.
  const traceDecision = await decideTracing(opts.tracing, process.env);
  const tracing = traceDecision.on
    ? await (await import('../tracing/tracing.ts')).createTracing({ ...opts.tracing!, endUser: opts.tracing!.endUser ?? false, target: traceDecision.target, tokens: tokens !== undefined }, (fields, msg) => log.warn(fields, msg))
    : undefined;
  life.add('tracing', () => tracing?.close());
  const traceProject = opts.traceProject ?? tracing?.project ?? process.env.GOOGLE_CLOUD_PROJECT;
  const accessLog =
    opts.accessLog === false ? undefined : createAccessLog({ logger: log, traceProject, fields: createLogFieldWriter(opts.logFields), worker: workerRole()?.slot });

  const backendTls = wantsBackendTls(opts.backendTls) ? await openBackendTls(opts.backendTls!, log) : undefined;
  life.add('backend tls', () => backendTls?.close());
  const proxy = createBackendProxy({
    backendTls,
    backendTlsOverrides,
    retryOns: opts.backendRetryOns ?? DEFAULTS.backendRetryOns,
    retryNum: opts.backendRetryNum ?? DEFAULTS.backendRetryNum,
    perTryTimeoutMs: opts.backendPerTryTimeoutMs,
    maxConnections: opts.backendMaxConnections ?? DEFAULTS.backendMaxConnections,
    maxPending: opts.backendMaxPending ?? DEFAULTS.backendMaxPending,
    onUpstreamError: (req, kind, err) => {
      metrics?.upstreamError(kind);
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id, requestId: req.gw?.requestId, ...traceLogFields(req.gw?.trace, traceProject) }, 'upstream error');
    },
    onWarning: (msg, fields) => log.warn(fields ?? {}, msg),
    contract: validation?.proxy,
    compression: opts.responseCompression === true,
    headerRules: createHeaderRules(opts.headerRules ?? {}),
    bodyLimit: { bufferBytes: opts.connectionBufferLimitBytes ?? DEFAULT_BUFFER_LIMIT, maxBytes: opts.maxRequestBodyBytes },
  });
  life.add('backend pools', () => proxy.close());

  return { keys, jwt, localJwks, tokens, assertions, validation, metrics, accessLog, proxy, quota, quotaFor, tracing, backendTlsOverrides, traceProject };
}
