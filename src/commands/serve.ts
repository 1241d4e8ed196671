/** `serve`: the gateway itself. Its flags, their environment variables and their defaults (src/runtime/options.ts). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SpecError } from '../config/problems.ts';
import { createLogger, flushLogs } from '../observability/logger.ts';
import { defaultTrustedHops } from '../auth/apikeys/client-ip.ts';
import { docsPathError } from '../docs-page/docs-page.ts';
import { parseDuration } from '../duration.ts';
import { printSpecError, wholeNumber } from '../cli-args.ts';
import { parseJwksFileOption, type JwksFileEntry } from '../auth/jwt/jwks-file-option.ts';
import { overrideTarget } from '../backend/address-override.ts';
import { CORS_DEFAULTS, CORS_PRESETS, corsOptionsFrom } from '../cors/options.ts';
import { explainStartupError } from '../startup-errors.ts';
import { logProcessWarnings } from '../observability/process-warnings.ts';
import { DEFAULTS } from '../runtime/options.ts';
import { parseHeaderRules } from '../backend/header-rules.ts';
import { DEFAULT_SAMPLE_RATE } from '../tracing/flags.ts';
import { DEFAULT_TRACE_CONTEXTS, parseTraceContexts } from '../tracing/contexts.ts';
import { nameList } from '../observability/log-fields.ts';
import { TLS_PROTOCOLS } from '../tls/server-tls.ts';
import { parseWorkers } from '../workers/count.ts';
import { workerRole } from '../workers/role.ts';
import { servingHeapFlags } from '../runtime/heap-flags.ts';

const int = wholeNumber;

/** --docs-path, for serve and validate alike. */
export function docsPathArg(v: string): string {
  const error = docsPathError(v);
  if (error) throw new InvalidArgumentError(`--docs-path ${error}`);
  return v;
}

function jwksFiles(v: string, previous: JwksFileEntry[] | undefined): JwksFileEntry[] {
  try {
    return parseJwksFileOption(v, previous);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** ESPv2's header flags: KEY=VALUE (several joined by ';'), repeatable; checked here so a bad one stops the start. */
function headerFlag(flag: string) {
  return (v: string, previous: string[] | undefined): string[] => {
    try {
      parseHeaderRules(v, false);
    } catch (err) {
      throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`);
    }
    return [...(previous ?? []), v];
  };
}

function backendOverride(v: string): string {
  const t = overrideTarget(v);
  if ('error' in t) throw new InvalidArgumentError(`--backend-address-override ${t.error}`);
  return v;
}

/** --spec is repeatable: one service per spec (src/services). */
export function specList(v: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), v];
}

function duration(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 500ms, 30s, 5m or 1h (a bare number is seconds)');
  return ms;
}

function sampleRate(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a sampling rate from 0.0 to 1.0');
  return n;
}

function traceContexts(v: string): string {
  try {
    parseTraceContexts(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return v;
}

/** Keys store default: Google's API Keys service on Google Cloud, the embedded store elsewhere. */
function defaultKeys(env: NodeJS.ProcessEnv): string {
  return env.K_SERVICE || env.GAE_SERVICE ? 'google' : 'file:keys.yaml';
}


export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve the API described by the spec, forwarding each call to its x-google-backend.')
    .addOption(new Option('--spec <file|folder>', 'OpenAPI 2.0 spec (endpoint.yaml), or a folder of config versions; repeat for several services, chosen by host').env('ENDPOINTS_SPEC').makeOptionMandatory().argParser(specList))
    .addOption(new Option('--default-service <name>', 'with several --spec: the service for hosts no spec names (default: none, ESP\'s 404)').env('ENDPOINTS_DEFAULT_SERVICE'))
    .addOption(new Option('--config-id <id>', 'with a folder: serve this config id (default: the newest valid version; the pin file wins)').env('ENDPOINTS_CONFIG_ID'))
    .addOption(new Option('--docs-path <path>', 'serve the API docs page and its sanitized spec (PATH/openapi.json) under this path (off by default)').env('ENDPOINTS_DOCS_PATH').argParser(docsPathArg))
    .addOption(new Option('--port <n>', 'serving port').env('PORT').default(DEFAULTS.port).argParser(int('--port', 0, 65535)))
    .addOption(new Option('--host <addr>', 'listen address (default: all interfaces)').env('ENDPOINTS_HOST'))
    .addOption(new Option('--service-name <name>', "service name for key restrictions (default: the spec's host)").env('ENDPOINTS_SERVICE_NAME'))
    .addOption(new Option('--producer-project <id>', 'project charged for calls without a key (default: from <api>.endpoints.<project>.cloud.goog)').env('ENDPOINTS_PRODUCER_PROJECT'))
    .addOption(new Option('--backend <url>', 'backend for operations without an x-google-backend address (ESPv2 --backend)').env('ENDPOINTS_BACKEND').default(DEFAULTS.localBackend))
    .addOption(new Option('--backend-address-override <url>', "send every call to this backend with the request's own path and query (ESPv2 --enable_backend_address_override)").env('ENDPOINTS_BACKEND_ADDRESS_OVERRIDE').argParser(backendOverride))
    .addOption(new Option('--backend-auth <mode>', 'attach Google-signed ID tokens to backend calls').choices(['google', 'none']).env('ENDPOINTS_BACKEND_AUTH').default('google'))
    .addOption(new Option('--keys <store>', 'API key store: google | file:PATH | none (default: google on Cloud Run/App Engine, else file:keys.yaml; none: no key store, for specs whose operations need no key)').env('ENDPOINTS_KEYS'))
    .addOption(new Option('--apikeys-endpoint <url>', 'API Keys service endpoint; http://host:port means plain REST without credentials (emulators)').env('ENDPOINTS_APIKEYS_ENDPOINT'))
    .addOption(new Option('--keys-fail-open', 'admit never-seen keys while the API Keys service is down (default: refuse 503)').env('ENDPOINTS_KEYS_FAIL_OPEN'))
    .addOption(new Option('--key-cache-size <n>', 'cached key verdicts').env('ENDPOINTS_KEY_CACHE_SIZE').default(DEFAULTS.keyCacheSize).argParser(int('--key-cache-size', 1)))
    .addOption(new Option('--key-refresh <duration>', 'reuse a key verdict this long, then refresh it in the background').env('ENDPOINTS_KEY_REFRESH').default(DEFAULTS.keyRefreshMs, '5m').argParser(duration))
    .addOption(new Option('--key-max-age <duration>', 'never serve a verdict older than this').env('ENDPOINTS_KEY_MAX_AGE').default(DEFAULTS.keyMaxAgeMs, '1h').argParser(duration))
    .addOption(new Option('--key-negative-ttl <duration>', 'remember invalid keys this long').env('ENDPOINTS_KEY_NEGATIVE_TTL').default(DEFAULTS.keyNegativeTtlMs, '30s').argParser(duration))
    .addOption(new Option('--backend-retry-ons <list>', 'comma-separated conditions a backend call is retried on (ESPv2 --backend_retry_ons)').env('ENDPOINTS_BACKEND_RETRY_ONS').default(DEFAULTS.backendRetryOns.join(',')))
    .addOption(new Option('--backend-retry-num <n>', 'retries after the first try (ESPv2 --backend_retry_num)').env('ENDPOINTS_BACKEND_RETRY_NUM').default(DEFAULTS.backendRetryNum).argParser(int('--backend-retry-num', 0, 10)))
    .addOption(new Option('--backend-per-try-timeout <duration>', "each try's own deadline (ESPv2 --backend_per_try_timeout; default: only the operation's deadline)").env('ENDPOINTS_BACKEND_PER_TRY_TIMEOUT').argParser(duration))
    .addOption(new Option('--backend-max-connections <n>', 'connections per backend origin').env('ENDPOINTS_BACKEND_MAX_CONNECTIONS').default(DEFAULTS.backendMaxConnections).argParser(int('--backend-max-connections', 1)))
    .addOption(new Option('--backend-max-pending <n>', 'requests waiting for a backend connection before new ones get 503').env('ENDPOINTS_BACKEND_MAX_PENDING').default(DEFAULTS.backendMaxPending).argParser(int('--backend-max-pending', 0)))
    .addOption(new Option('--no-websockets', 'refuse WebSocket upgrades (ESPv2 allows them)'))
    .addOption(new Option('--stream-idle-timeout <duration>', "close a WebSocket with no traffic either way for this long, or the operation's deadline + 1s if longer (ESPv2 --stream_idle_timeout_test_only)").env('ENDPOINTS_STREAM_IDLE_TIMEOUT').default(DEFAULTS.streamIdleTimeoutMs, '5m').argParser(duration))
    .addOption(new Option('--downstream-max-connections <n>', 'client connections on the serving port; past it new ones are closed at once (default: from the open-files limit, (limit - 64) / 2; 0: no limit)').env('ENDPOINTS_DOWNSTREAM_MAX_CONNECTIONS').argParser(int('--downstream-max-connections', 0)))
    .addOption(new Option('--quota-store <url>', 'shared quota counters: redis://HOST:PORT, rediss://..., or a unix socket path (default: in memory)').env('ENDPOINTS_QUOTA_STORE'))
    .addOption(new Option('--quota-timeout <duration>', 'Redis answer deadline before falling back to local limits').env('ENDPOINTS_QUOTA_TIMEOUT').default(DEFAULTS.quotaTimeoutMs, '50ms').argParser(duration))
    .addOption(new Option('--trusted-hops <n>', 'proxies in front that append to X-Forwarded-For (default: 1 on Cloud Run, else 0)').env('ENDPOINTS_TRUSTED_HOPS').argParser(int('--trusted-hops', 0, 16)))
    .addOption(new Option('--underscores-in-headers', 'accept header names containing "_" (ESPv2 refuses them)').env('ENDPOINTS_UNDERSCORES_IN_HEADERS'))
    .addOption(new Option('--admin-port <n>', 'admin listener for metrics (off by default)').env('ENDPOINTS_ADMIN_PORT').argParser(int('--admin-port', 0, 65535)))
    .addOption(new Option('--forward-auth <listener>', 'answer /.endpoints/auth for nginx auth_request, Traefik ForwardAuth or Envoy ext_authz on this listener (off by default)').env('ENDPOINTS_FORWARD_AUTH').choices(['serving', 'admin']))
    .addOption(new Option('--access-log <on|off>', 'one JSON access-log line per request').choices(['on', 'off']).env('ENDPOINTS_ACCESS_LOG').default('on'))
    .addOption(new Option('--trace-project <id>', 'project of Cloud Trace ids in logs').env('GOOGLE_CLOUD_PROJECT'))
    .addOption(new Option('--watch', 'reload the spec when its file changes (SIGHUP always reloads)').env('ENDPOINTS_WATCH'))
    .addOption(new Option('--public-url <url>', 'external origin of the gateway for browser sign-in redirects (default: from the request, only behind --trusted-hops proxies)').env('ENDPOINTS_PUBLIC_URL'))
    .addOption(new Option('--session-secret-file <path>', 'browser sign-in session secret(s): current first, previous ones after it (default: $ENDPOINTS_SESSION_SECRET)').env('ENDPOINTS_SESSION_SECRET_FILE'))
    .addOption(new Option('--signin-client-secret-file <path>', 'OAuth client secret for browser sign-in (default: $ENDPOINTS_SIGNIN_CLIENT_SECRET)').env('ENDPOINTS_SIGNIN_CLIENT_SECRET_FILE'))
    .addOption(new Option('--session-ttl <duration>', 'browser sign-in session lifetime, absolute from sign-in (refreshes never extend it)').env('ENDPOINTS_SESSION_TTL').default(DEFAULTS.sessionTtlMs, '12h').argParser(duration))
    .addOption(new Option('--session-store <url>', 'keep browser sign-in sessions in Redis (redis://HOST:PORT, rediss://…, unix socket path): the cookie holds an opaque id; sign-out and `sessions revoke` end a session on every instance (default: stateless sealed cookies)').env('ENDPOINTS_SESSION_STORE'))
    .addOption(new Option('--signin-cookie-domain <domain>', 'share one browser sign-in session cookie among the sign-in services below this parent domain (e.g. .example.com); a session is still accepted only by services with its provider and client id').env('ENDPOINTS_SIGNIN_COOKIE_DOMAIN'))
    .addOption(new Option('--session-idle-timeout <duration>', 'end a browser sign-in session unused this long (needs --session-store)').env('ENDPOINTS_SESSION_IDLE_TIMEOUT').argParser(duration))
    .addOption(new Option('--signing-key <path>', 'PEM private key (EC P-256 or RSA) that signs X-Endpoints-Gateway-Assertion (default: a key generated at start)').env('ENDPOINTS_SIGNING_KEY'))
    .addOption(new Option('--jwt-cache-size <n>', 'verified end-user JWTs kept (ESPv2 --jwt_cache_size)').env('ENDPOINTS_JWT_CACHE_SIZE').default(DEFAULTS.jwtCacheSize).argParser(int('--jwt-cache-size', 1)))
    .addOption(new Option('--jwks-file <issuer=path>', "take this JWT issuer's signing keys from a local JWKS file, never its jwks_uri; repeatable").env('ENDPOINTS_JWKS_FILE').argParser(jwksFiles))
    .addOption(new Option('--jwks-cache-duration <duration>', 'how long fetched JWT signing keys are used (ESPv2 --jwks_cache_duration_in_s)').env('ENDPOINTS_JWKS_CACHE_DURATION').default(DEFAULTS.jwksCacheMs, '5m').argParser(duration))
    .addOption(new Option('--shutdown-grace <duration>', "on SIGTERM, how long in-flight requests may take (default below Cloud Run's 10 s SIGTERM-to-SIGKILL window)").env('ENDPOINTS_SHUTDOWN_GRACE').default(DEFAULTS.shutdownGraceMs, '8s').argParser(duration))
    .addOption(new Option('--validate <mode>', 'check requests and backend responses against the spec: off | report (log, count, pass) | enforce (400 / 502)').choices(['off', 'report', 'enforce']).env('ENDPOINTS_VALIDATE').default('off'))
    .addOption(new Option('--cors-preset <preset>', 'the gateway answers CORS preflights and adds CORS headers to every response (ESPv2 --cors_preset)').choices([...CORS_PRESETS]).env('ENDPOINTS_CORS_PRESET'))
    .addOption(new Option('--cors-allow-origin <origin>', 'with --cors-preset basic: the allowed origin, * for any (ESPv2 --cors_allow_origin)').env('ENDPOINTS_CORS_ALLOW_ORIGIN').default(CORS_DEFAULTS.allowOrigin))
    .addOption(new Option('--cors-allow-origin-regex <regex>', 'with --cors-preset cors_with_regex: allowed origins (ESPv2 --cors_allow_origin_regex)').env('ENDPOINTS_CORS_ALLOW_ORIGIN_REGEX').default(CORS_DEFAULTS.allowOriginRegex))
    .addOption(new Option('--cors-allow-methods <list>', 'Access-Control-Allow-Methods (ESPv2 --cors_allow_methods)').env('ENDPOINTS_CORS_ALLOW_METHODS').default(CORS_DEFAULTS.allowMethods))
    .addOption(new Option('--cors-allow-headers <list>', 'Access-Control-Allow-Headers (ESPv2 --cors_allow_headers)').env('ENDPOINTS_CORS_ALLOW_HEADERS').default(CORS_DEFAULTS.allowHeaders))
    .addOption(new Option('--cors-expose-headers <list>', 'Access-Control-Expose-Headers (ESPv2 --cors_expose_headers)').env('ENDPOINTS_CORS_EXPOSE_HEADERS').default(CORS_DEFAULTS.exposeHeaders))
    .addOption(new Option('--cors-allow-credentials', 'Access-Control-Allow-Credentials: true (ESPv2 --cors_allow_credentials)').env('ENDPOINTS_CORS_ALLOW_CREDENTIALS'))
    .addOption(new Option('--cors-max-age <duration>', 'Access-Control-Max-Age of preflight answers (ESPv2 --cors_max_age)').env('ENDPOINTS_CORS_MAX_AGE').default(CORS_DEFAULTS.maxAgeMs, '480h').argParser(duration))
    .addOption(new Option('--enable-response-compression', 'gzip, br (and zstd) response bodies by Accept-Encoding, with Envoy compressor defaults (ESPv2 --enable_response_compression)').env('ENDPOINTS_ENABLE_RESPONSE_COMPRESSION'))
    .addOption(new Option('--add-request-header <key=value>', 'set this header on backend requests, replacing the caller\'s; repeatable (ESPv2 --add_request_header)').env('ENDPOINTS_ADD_REQUEST_HEADER').argParser(headerFlag('--add-request-header')))
    .addOption(new Option('--append-request-header <key=value>', 'add this header value to backend requests, next to the caller\'s; repeatable (ESPv2 --append_request_header)').env('ENDPOINTS_APPEND_REQUEST_HEADER').argParser(headerFlag('--append-request-header')))
    .addOption(new Option('--add-response-header <key=value>', 'set this header on backend responses, replacing the backend\'s; repeatable (ESPv2 --add_response_header)').env('ENDPOINTS_ADD_RESPONSE_HEADER').argParser(headerFlag('--add-response-header')))
    .addOption(new Option('--append-response-header <key=value>', 'add this header value to backend responses, next to the backend\'s; repeatable (ESPv2 --append_response_header)').env('ENDPOINTS_APPEND_RESPONSE_HEADER').argParser(headerFlag('--append-response-header')))
    .addOption(new Option('--enable-operation-name-header', 'send X-Endpoint-Api-Operation-Name (the matched operation) to the backend (ESPv2 --enable_operation_name_header)').env('ENDPOINTS_ENABLE_OPERATION_NAME_HEADER'))
    .addOption(new Option('--envoy-connection-buffer-limit-bytes <n>', 'the most of a request body held in memory: for a retry and for --validate (ESPv2 --envoy_connection_buffer_limit_bytes; Envoy\'s default 1 MiB)').env('ENDPOINTS_ENVOY_CONNECTION_BUFFER_LIMIT_BYTES').argParser(int('--envoy-connection-buffer-limit-bytes', 1)))
    .addOption(new Option('--max-request-body-bytes <n>', 'refuse request bodies longer than this with 413, streamed ones included (default: no limit)').env('ENDPOINTS_MAX_REQUEST_BODY_BYTES').argParser(int('--max-request-body-bytes', 0)))
    .addOption(new Option('--disable-normalize-path', "match and forward paths as sent (slashes still merged; '.' and '..' segments refused) (ESPv2 --disable_normalize_path)").env('ENDPOINTS_DISABLE_NORMALIZE_PATH'))
    .addOption(new Option('--disallow-escaped-slashes-in-path', 'redirect (307) paths holding %2F or %5C to the same path with them unescaped (ESPv2 --disallow_escaped_slashes_in_path)').env('ENDPOINTS_DISALLOW_ESCAPED_SLASHES_IN_PATH'))
    .addOption(new Option('--disallow-colon-in-wildcard-path-segment', "path template wildcards (* and **) never match a ':' (ESPv2 --disallow_colon_in_wildcard_path_segment)").env('ENDPOINTS_DISALLOW_COLON_IN_WILDCARD_PATH_SEGMENT'))
    .addOption(new Option('--disable-tracing', 'create and export no spans (ESPv2 --disable_tracing)').env('ENDPOINTS_DISABLE_TRACING'))
    .addOption(new Option('--tracing-sample-rate <rate>', 'share of requests traced when the caller sent no sampling decision, 0.0 to 1.0 (ESPv2 --tracing_sample_rate)').env('ENDPOINTS_TRACING_SAMPLE_RATE').default(DEFAULT_SAMPLE_RATE).argParser(sampleRate))
    .addOption(new Option('--tracing-incoming-context <list>', 'trace contexts read from callers, first found wins: traceparent, x-cloud-trace-context (ESPv2 --tracing_incoming_context)').env('ENDPOINTS_TRACING_INCOMING_CONTEXT').default(DEFAULT_TRACE_CONTEXTS).argParser(traceContexts))
    .addOption(new Option('--tracing-outgoing-context <list>', "trace contexts sent to the backend, naming the gateway's span (ESPv2 --tracing_outgoing_context)").env('ENDPOINTS_TRACING_OUTGOING_CONTEXT').default(DEFAULT_TRACE_CONTEXTS).argParser(traceContexts))
    .addOption(new Option('--tracing-project-id <id>', "export spans to this project's Cloud Trace (default on Cloud Run / App Engine: the service's project; elsewhere OTLP as OTEL_EXPORTER_OTLP_* say)").env('ENDPOINTS_TRACING_PROJECT_ID'))
    .addOption(new Option('--tracing-end-user', "record the verified end user's subject (enduser.id) on server spans").env('ENDPOINTS_TRACING_END_USER'))
    .addOption(new Option('--log-request-headers <names>', 'comma-separated request headers to add to the access log, secrets redacted (ESPv2 --log_request_headers)').env('ENDPOINTS_LOG_REQUEST_HEADERS'))
    .addOption(new Option('--log-response-headers <names>', 'comma-separated response headers to add to the access log, secrets redacted (ESPv2 --log_response_headers)').env('ENDPOINTS_LOG_RESPONSE_HEADERS'))
    .addOption(new Option('--log-jwt-payloads <claims>', "comma-separated claims of the verified JWT to add to the access log, primitive values only (ESPv2 --log_jwt_payloads)").env('ENDPOINTS_LOG_JWT_PAYLOADS'))
    .addOption(new Option('--ssl-server-cert-path <dir>', 'serve HTTPS (HTTP/2 by ALPN, and HTTP/1.1) with server.crt and server.key from this folder, re-read when they change (ESPv2 --ssl_server_cert_path)').env('ENDPOINTS_SSL_SERVER_CERT_PATH'))
    .addOption(new Option('--generate-self-signed-cert', 'serve HTTPS with a certificate for CN=localhost generated at start, valid 10 years (ESPv2 --generate_self_signed_cert)').env('ENDPOINTS_GENERATE_SELF_SIGNED_CERT'))
    .addOption(new Option('--ssl-server-root-cert-path <file>', 'require client certificates issued by these PEM roots; the verified one is described to the backend in X-Endpoints-Client-Cert (ESPv2 --ssl_server_root_cert_path)').env('ENDPOINTS_SSL_SERVER_ROOT_CERT_PATH'))
    .addOption(new Option('--ssl-minimum-protocol <version>', 'lowest TLS version the listener accepts (default TLSv1.2; ESPv2 --ssl_minimum_protocol)').choices([...TLS_PROTOCOLS]).env('ENDPOINTS_SSL_MINIMUM_PROTOCOL'))
    .addOption(new Option('--ssl-maximum-protocol <version>', 'highest TLS version the listener accepts (ESPv2 --ssl_maximum_protocol)').choices([...TLS_PROTOCOLS]).env('ENDPOINTS_SSL_MAXIMUM_PROTOCOL'))
    .addOption(new Option('--h2c', 'also accept cleartext HTTP/2 with prior knowledge on the serving port (Cloud Run --use-http2)').env('ENDPOINTS_H2C'))
    .addOption(new Option('--ssl-backend-client-cert-path <dir>', 'present client.crt and client.key from this folder to https backends, re-read when they change (ESPv2 --ssl_backend_client_cert_path)').env('ENDPOINTS_SSL_BACKEND_CLIENT_CERT_PATH'))
    .addOption(new Option('--ssl-backend-client-root-certs-file <file>', "verify https backends against these PEM roots instead of Node's bundled ones, re-read when it changes (ESPv2 --ssl_backend_client_root_certs_file)").env('ENDPOINTS_SSL_BACKEND_CLIENT_ROOT_CERTS_FILE'))
    .addOption(new Option('--workers <n|auto>', 'serving processes sharing the port (auto: the CPUs this process may use, cgroup CPU limit included)').env('ENDPOINTS_WORKERS').default(1).argParser(parseWorkers))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).env('LOG_LEVEL').default('info'))
    .action(async (o) => {
      const logger = createLogger({ level: o.logLevel });
      // While serving, every line on stdout and stderr is JSON: Node's own warnings too.
      logProcessWarnings(logger);
      // --workers N: this process only forks and coordinates the N that serve (src/workers/).
      const role = workerRole();
      if (role) logger.setBindings({ worker: role.slot }); // every line says which worker wrote it
      if (o.workers > 1 && !role) {
        await (await import('../workers/primary.ts')).runPrimary({ workers: o.workers, adminPort: o.adminPort, host: o.host, shutdownGraceMs: o.shutdownGrace, logger });
        return;
      }
      try {
        // Loaded here, not at the top: `validate` and `keys` need none of the serving stack.
        const { startGateway } = await import('../gateway.ts');
        const gw = await startGateway({
          specFile: o.spec[0],
          specFiles: o.spec,
          defaultService: o.defaultService,
          port: o.port,
          host: o.host,
          serviceName: o.serviceName,
          producerProject: o.producerProject,
          localBackend: o.backend,
          backendAddressOverride: o.backendAddressOverride,
          jwksFiles: o.jwksFile ?? [],
          backendAuth: o.backendAuth,
          keys: o.keys ?? defaultKeys(process.env),
          apikeysEndpoint: o.apikeysEndpoint,
          keysFailOpen: Boolean(o.keysFailOpen),
          keyCacheSize: o.keyCacheSize,
          keyRefreshMs: o.keyRefresh,
          keyMaxAgeMs: o.keyMaxAge,
          keyNegativeTtlMs: o.keyNegativeTtl,
          quotaStore: o.quotaStore,
          quotaTimeoutMs: o.quotaTimeout,
          trustedHops: o.trustedHops ?? defaultTrustedHops(process.env),
          underscoresInHeaders: Boolean(o.underscoresInHeaders),
          adminPort: o.adminPort,
          forwardAuth: o.forwardAuth as 'serving' | 'admin' | undefined,
          accessLog: o.accessLog !== 'off',
          traceProject: o.traceProject,
          // With workers, one watches and the others follow its swaps; the primary serves the admin port.
          watch: Boolean(o.watch) && (role?.leader ?? true),
          adminInPrimary: role !== undefined,
          signingKey: o.signingKey,
          signin: { publicUrl: o.publicUrl, sessionSecretFile: o.sessionSecretFile, clientSecretFile: o.signinClientSecretFile, sessionTtlMs: o.sessionTtl, sessionStore: o.sessionStore, sessionIdleTimeoutMs: o.sessionIdleTimeout, cookieDomain: o.signinCookieDomain },
          jwtCacheSize: o.jwtCacheSize,
          jwksCacheMs: o.jwksCacheDuration,
          backendRetryOns: String(o.backendRetryOns).split(',').map((v) => v.trim()).filter((v) => v !== ''),
          backendRetryNum: o.backendRetryNum,
          backendPerTryTimeoutMs: o.backendPerTryTimeout,
          backendMaxConnections: o.backendMaxConnections,
          backendMaxPending: o.backendMaxPending,
          websockets: o.websockets !== false,
          streamIdleTimeoutMs: o.streamIdleTimeout,
          downstreamMaxConnections: o.downstreamMaxConnections,
          cors: corsOptionsFrom(o),
          validate: o.validate,
          configId: o.configId,
          docsPath: o.docsPath,
          responseCompression: Boolean(o.enableResponseCompression),
          headerRules: {
            addRequest: o.addRequestHeader,
            appendRequest: o.appendRequestHeader,
            addResponse: o.addResponseHeader,
            appendResponse: o.appendResponseHeader,
            operationName: Boolean(o.enableOperationNameHeader),
          },
          connectionBufferLimitBytes: o.envoyConnectionBufferLimitBytes,
          maxRequestBodyBytes: o.maxRequestBodyBytes,
          disableNormalizePath: Boolean(o.disableNormalizePath),
          disallowEscapedSlashesInPath: Boolean(o.disallowEscapedSlashesInPath),
          disallowColonInWildcardPathSegment: Boolean(o.disallowColonInWildcardPathSegment),
          tracing: {
            disabled: Boolean(o.disableTracing),
            sampleRate: o.tracingSampleRate,
            incoming: parseTraceContexts(o.tracingIncomingContext),
            outgoing: parseTraceContexts(o.tracingOutgoingContext),
            projectId: o.tracingProjectId,
            endUser: Boolean(o.tracingEndUser),
          },
          logFields: { requestHeaders: nameList(o.logRequestHeaders, true), responseHeaders: nameList(o.logResponseHeaders, true), jwtClaims: nameList(o.logJwtPayloads, false) },
          tls: { certPath: o.sslServerCertPath, selfSigned: Boolean(o.generateSelfSignedCert), clientRootCertFile: o.sslServerRootCertPath, minProtocol: o.sslMinimumProtocol, maxProtocol: o.sslMaximumProtocol },
          h2c: Boolean(o.h2c),
          backendTls: { clientCertPath: o.sslBackendClientCertPath, rootCertsFile: o.sslBackendClientRootCertsFile },
          logger,
        });
        servingHeapFlags();
        let stopping = false;
        const stop = (signal: string, exitCode = 0) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal, graceMs: o.shutdownGrace }, 'draining: no new connections, finishing in-flight requests');
          void gw.close(o.shutdownGrace).then(() => {
            logger.info({}, 'stopped');
            // Bounded: a stdout nobody reads must not keep a stopping process alive.
            void flushLogs(logger, 5000).then(() => process.exit(exitCode));
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        // Last resort only: every known failure is handled where it arises. After an
        // exception nobody caught, the process state is unknown, so it is logged with its
        // stack and the gateway drains (in-flight requests finish within the grace period)
        // and exits non-zero for the platform to restart it, rather than dying mid-request
        // or serving on in an unknown state.
        process.on('uncaughtException', (err, origin) => {
          logger.fatal({ err, origin }, 'uncaught exception: draining and exiting');
          stop('uncaughtException', 70);
        });
        // A worker reloads when the primary says so (SIGHUP goes to the primary).
        if (role) await (await import('../workers/worker.ts')).joinPrimary(gw, role, logger, stop);
        else process.on('SIGHUP', () => void gw.reload());
      } catch (err) {
        if (err instanceof SpecError) {
          printSpecError(o.spec[0], err);
          process.exitCode = 2;
          if (role) process.exit(2); // a worker: its channel to the primary would keep it alive
          return;
        }
        // One line, no stack, for what an operator can fix (a busy port, a missing key store).
        const explained = explainStartupError(err, { port: o.port, adminPort: o.adminPort, host: o.host, keys: o.keys ?? defaultKeys(process.env), keysDefaulted: o.keys === undefined });
        process.stderr.write(`endpoints-gateway: ${explained ?? (err as Error).message}\n`);
        // A start that failed part-way (the admin port busy after the serving port opened) must still end.
        void flushLogs(logger, 2000).then(() => process.exit(1));
      }
    });
}
