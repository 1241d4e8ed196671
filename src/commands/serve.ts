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
import { parseWorkers } from '../workers/count.ts';
import { workerRole } from '../workers/role.ts';

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

function backendOverride(v: string): string {
  const t = overrideTarget(v);
  if ('error' in t) throw new InvalidArgumentError(`--backend-address-override ${t.error}`);
  return v;
}

function duration(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 500ms, 30s, 5m or 1h (a bare number is seconds)');
  return ms;
}

/** Keys store default: Google's API Keys service on Google Cloud, the embedded store elsewhere. */
function defaultKeys(env: NodeJS.ProcessEnv): string {
  return env.K_SERVICE || env.GAE_SERVICE ? 'google' : 'file:keys.yaml';
}


export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve the API described by the spec, forwarding each call to its x-google-backend.')
    .addOption(new Option('--spec <file|folder>', 'OpenAPI 2.0 spec (endpoint.yaml), or a folder of config versions').env('ENDPOINTS_SPEC').makeOptionMandatory())
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
    .addOption(new Option('--access-log <on|off>', 'one JSON access-log line per request').choices(['on', 'off']).env('ENDPOINTS_ACCESS_LOG').default('on'))
    .addOption(new Option('--trace-project <id>', 'project of Cloud Trace ids in logs').env('GOOGLE_CLOUD_PROJECT'))
    .addOption(new Option('--watch', 'reload the spec when its file changes (SIGHUP always reloads)').env('ENDPOINTS_WATCH'))
    .addOption(new Option('--public-url <url>', 'external origin of the gateway for browser sign-in redirects (default: from the request, only behind --trusted-hops proxies)').env('ENDPOINTS_PUBLIC_URL'))
    .addOption(new Option('--session-secret-file <path>', 'browser sign-in session secret(s): current first, previous ones after it (default: $ENDPOINTS_SESSION_SECRET)').env('ENDPOINTS_SESSION_SECRET_FILE'))
    .addOption(new Option('--signin-client-secret-file <path>', 'OAuth client secret for browser sign-in (default: $ENDPOINTS_SIGNIN_CLIENT_SECRET)').env('ENDPOINTS_SIGNIN_CLIENT_SECRET_FILE'))
    .addOption(new Option('--session-ttl <duration>', 'browser sign-in session lifetime, absolute from sign-in (refreshes never extend it)').env('ENDPOINTS_SESSION_TTL').default(DEFAULTS.sessionTtlMs, '12h').argParser(duration))
    .addOption(new Option('--session-store <url>', 'keep browser sign-in sessions in Redis (redis://HOST:PORT, rediss://…, unix socket path): the cookie holds an opaque id; sign-out and `sessions revoke` end a session on every instance (default: stateless sealed cookies)').env('ENDPOINTS_SESSION_STORE'))
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
          specFile: o.spec,
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
          accessLog: o.accessLog !== 'off',
          traceProject: o.traceProject,
          // With workers, one watches and the others follow its swaps; the primary serves the admin port.
          watch: Boolean(o.watch) && (role?.leader ?? true),
          adminInPrimary: role !== undefined,
          signingKey: o.signingKey,
          signin: { publicUrl: o.publicUrl, sessionSecretFile: o.sessionSecretFile, clientSecretFile: o.signinClientSecretFile, sessionTtlMs: o.sessionTtl, sessionStore: o.sessionStore, sessionIdleTimeoutMs: o.sessionIdleTimeout },
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
          logger,
        });
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
          printSpecError(o.spec, err);
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
