/**
 * What `serve` is started with: the flags, as startGateway takes them. The
 * defaults are defined once, here, for the CLI (src/commands/serve.ts) and for
 * programs that call startGateway directly.
 */
import type { Logger } from '../observability/logger.ts';
import type { JwksFileEntry } from '../auth/jwt/jwks-file-option.ts';
import type { SigninFlags } from '../signin/index.ts';
import type { CorsOptions } from '../cors/options.ts';
import type { HeaderRuleFlags } from '../backend/header-rules.ts';
import type { TracingFlags } from '../tracing/flags.ts';
import type { LogFieldFlags } from '../observability/log-fields.ts';
import type { ServerTlsFlags } from '../tls/server-tls.ts';
import type { BackendTlsFlags } from '../tls/backend-tls.ts';

export const DEFAULTS = {
  keyCacheSize: 10_000,
  keyRefreshMs: 300_000,
  keyMaxAgeMs: 3_600_000,
  keyNegativeTtlMs: 30_000,
  quotaTimeoutMs: 50,
  jwtCacheSize: 1000,
  jwksCacheMs: 300_000,
  /** ESPv2's default --backend_retry_ons. */
  backendRetryOns: ['reset', 'connect-failure', 'refused-stream'] as readonly string[],
  backendRetryNum: 1,
  /** Envoy's circuit-breaker defaults as ESPv2 sets them. */
  backendMaxConnections: 1024,
  backendMaxPending: 1024,
  localBackend: 'http://127.0.0.1:8082',
  port: 8080,
  sessionTtlMs: 43_200_000,
  /** Below Cloud Run's 10 s SIGTERM-to-SIGKILL window. */
  shutdownGraceMs: 8_000,
  /** ESPv2's stream idle timeout, for WebSocket tunnels. */
  streamIdleTimeoutMs: 300_000,
} as const;

export interface GatewayOptions {
  /** A spec file, or a folder of config versions (src/config/versions.ts). */
  readonly specFile: string;
  /** Several services, chosen by host: every --spec (specFile is the first); src/services/services.ts. */
  readonly specFiles?: readonly string[] | undefined;
  /** With several --spec: the service (by name) for hosts no spec names; undefined: ESP's 404. */
  readonly defaultService?: string | undefined;
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
  /** --forward-auth: answer /.endpoints/auth (src/http/forward-auth.ts) on this listener; off when undefined. */
  readonly forwardAuth?: 'serving' | 'admin' | undefined;
  /** --workers: metrics are kept (adminPort set) but the primary process serves the admin port. */
  readonly adminInPrimary?: boolean;
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
  readonly jwksFiles?: readonly JwksFileEntry[] | undefined;
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
  /** ESPv2's stream idle timeout: an open WebSocket idle this long is closed (default 5 min). */
  readonly streamIdleTimeoutMs?: number;
  /** Client connections on the serving port (0: none; default from the open-files limit, src/http/downstream-limit.ts). */
  readonly downstreamMaxConnections?: number | undefined;
  /** ESPv2 --cors_preset and its --cors_* companions; undefined: no preset (allowCors still works). */
  readonly cors?: CorsOptions | undefined;
  /** --validate: check traffic against the spec (default off). */
  readonly validate?: 'off' | 'report' | 'enforce';
  /** Browser sign-in (x-endpoints-signin): public URL, secret files, session lifetime. */
  readonly signin?: SigninFlags | undefined;
  /** ESPv2 --enable_response_compression: gzip, br (zstd) by Accept-Encoding with Envoy's defaults (src/backend/compression.ts). */
  readonly responseCompression?: boolean;
  /** ESPv2 --add/append_request/response_header(s), --enable_operation_name_header (src/backend/header-rules.ts). */
  readonly headerRules?: HeaderRuleFlags | undefined;
  /** ESPv2 --envoy_connection_buffer_limit_bytes: the most of a request body kept for a retry or validation (default 1 MiB). */
  readonly connectionBufferLimitBytes?: number | undefined;
  /** A request body longer than this is refused 413 (default: no limit). */
  readonly maxRequestBodyBytes?: number | undefined;
  /** ESPv2 --disable_normalize_path: paths matched and forwarded as sent, slashes merged (src/routing/path-switches.ts). */
  readonly disableNormalizePath?: boolean;
  /** ESPv2 --disallow_escaped_slashes_in_path: 307 to the path with %2F / %5C unescaped. */
  readonly disallowEscapedSlashesInPath?: boolean;
  /** ESPv2 --disallow_colon_in_wildcard_path_segment: `*` and `**` never match a ':'. */
  readonly disallowColonInWildcardPathSegment?: boolean;
  /** Tracing (src/tracing/): ESPv2's --tracing_* flags; undefined: off. */
  readonly tracing?: TracingFlags | undefined;
  /** ESPv2's --log_request_headers, --log_response_headers, --log_jwt_payloads. */
  readonly logFields?: LogFieldFlags | undefined;
  /** HTTPS on the serving port (--ssl-server-cert-path, --generate-self-signed-cert, client certificates, protocols); undefined: cleartext. */
  readonly tls?: ServerTlsFlags | undefined;
  /** --h2c: cleartext HTTP/2 with prior knowledge next to HTTP/1.1 on the serving port (with TLS, HTTP/2 is always offered by ALPN). */
  readonly h2c?: boolean;
  /** --ssl-backend-client-cert-path / --ssl-backend-client-root-certs-file: TLS credentials for https backends. */
  readonly backendTls?: BackendTlsFlags | undefined;
  readonly logger: Logger;
}

