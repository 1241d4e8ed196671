/**
 * `serve`, assembled: the process-lifetime parts, the snapshot of the spec in
 * force and how it is reloaded, the front door and the request chain, the
 * listeners. Each piece lives in its own module; this file only says which
 * goes where.
 */
import { getHeapStatistics } from 'node:v8';
import type { CompiledService, CompileOptions } from './config/compile.ts';
import { warnIfKeysNeededWithoutStore } from './auth/apikeys/no-store-warning.ts';
import { ASSERTION_JWKS_PATH } from './auth/assertion.ts';
import { corsSpecProblems, createCorsPreset } from './cors/preset.ts';
import { corsOptionsError } from './cors/options.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import { createChain } from './chain/chain.ts';
import { createFrontDoor } from './http/front-door.ts';
import { openServingPort } from './http/serving-port.ts';
import { createRecorder } from './http/record.ts';
import { listen, type Listener } from './http/listen.ts';
import { Lifetime } from './runtime/lifetime.ts';
import { createProcessParts } from './runtime/parts.ts';
import { openSpecs } from './runtime/spec-loader.ts';
import { createReloader, type Reloader } from './runtime/reloader.ts';
import { createReadiness } from './runtime/readiness.ts';
import { buildSnapshot } from './runtime/snapshot.ts';
import type { GatewayOptions } from './runtime/options.ts';

export type { GatewayOptions } from './runtime/options.ts';
export { DEFAULTS } from './runtime/options.ts';

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

/** Loads the spec and every dependency, then listens. Throws SpecError on a bad spec, before listening. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.logger;
  const corsError = opts.cors ? corsOptionsError(opts.cors) : undefined;
  if (corsError) throw new Error(corsError);
  const life = new Lifetime();
  let reloader: Reloader | undefined;
  const docsMod = opts.docsPath !== undefined ? await import('./docs-page/docs-page.ts') : undefined;
  // A spec the validated-spec cache lacks is validated in a worker while the parts load their
  // libraries here (a cold start then takes the longer of the two, not their sum): the parts wait
  // until that worker is started, since loading them holds this thread for hundreds of ms.
  let validating!: () => void;
  const offThread = new Promise<void>((resolve) => (validating = resolve));
  const specsP = openSpecs(
    opts,
    {
      compile: compileOptions(opts),
      check: (c) => [...(docsMod ? docsMod.docsPathProblems(c, opts.docsPath!) : []), ...(opts.cors ? corsSpecProblems(c) : [])],
      // --validate's contract needs the parts: the spec is loaded by then, so they may start.
      prepare: opts.validate === 'report' || opts.validate === 'enforce' ? async (service, file) => (validating(), (await partsP).validation?.prepare(service, file)) : undefined,
      onValidating: validating,
    },
    log,
  );
  void specsP.finally(validating).catch(() => {}); // loaded or refused without a worker: start the parts anyway
  const partsP = offThread.then(() => createProcessParts(opts, life, { config: () => reloader!.status.current() }));
  // A part's failure is reported before the spec's, as when they loaded one after the other.
  const [partsDone, specsDone] = await Promise.allSettled([partsP, specsP]);
  if (partsDone.status === 'rejected') throw partsDone.reason;
  if (specsDone.status === 'rejected') throw specsDone.reason;
  const parts = partsDone.value;
  const { loader, source, first: loaded, skipped } = specsDone.value;
  reloader = createReloader({
    first: buildSnapshot(loaded, await parts.quotaFor(loaded.service.config, undefined)),
    source,
    load: () => loader.load(false),
    build: async (next, previous) => buildSnapshot(next, await parts.quotaFor(next.service.config, previous.quota)),
    beforeLoad: async () => void (await parts.localJwks?.reload()), // --jwks-file keys are re-read with the spec
    onResult: (ok) => parts.metrics?.reload(ok),
    watch: Boolean(opts.watch),
    log,
  });
  const current = reloader.current;
  life.add('watcher', () => reloader!.close());
  if (skipped) reloader.status.refused({ configId: skipped.configId, spec: skipped.file, problems: skipped.lines(skipped.file) });
  if (!parts.keys) warnIfKeysNeededWithoutStore(current().config, log);

  const readiness = createReadiness({ tokens: parts.tokens, jwt: parts.jwt, localJwks: parts.localJwks, fetchAhead: opts.backendAuth !== 'none', log });
  life.add('readiness', () => readiness.close());
  // Sign-in loads only for specs that use it; it refuses to start without its secret and public URL.
  const signin = current().config.signin
    ? await (await import('./signin/index.ts')).startSignin(opts.signin ?? {}, opts.trustedHops, () => current().config, (level, msg, fields) => log[level](fields ?? {}, msg))
    : undefined;
  life.add('sign-in', () => signin?.close());
  // The docs page publishes the bytes served: read as each config is swapped in, before the file can change again.
  const docsPage = docsMod?.createDocsPage(opts.docsPath!, () => ({ file: current().file, digest: current().digest, serviceName: current().config.serviceName }));
  await docsPage?.prime();
  reloader.onSwap(async (next, previous) => {
    readiness.warm(next.config, previous.config);
    await docsPage?.prime();
  });

  const cors = opts.cors ? createCorsPreset(opts.cors) : undefined;
  const record = createRecorder(parts.accessLog, parts.metrics);
  const stages = createChain({
    keys: parts.keys,
    tokens: parts.tokens,
    trustedHops: opts.trustedHops,
    allowUnderscoreHeaders: opts.underscoresInHeaders ?? false,
    jwt: parts.jwt,
    assertions: parts.assertions,
    validate: parts.validation?.checkRequest,
    signin,
  });
  const routes = createFrontDoor({ ready: readiness.check, jwks: { path: ASSERTION_JWKS_PATH, body: parts.assertions.jwksJson }, docs: docsPage, signin: signin?.routes, cors });
  let draining = false;
  const { listener, downstreamMax, setGrace } = await openServingPort(opts, parts, { current, stages, routes, record, cors, draining: () => draining }, life);
  const metrics = parts.metrics;
  const admin =
    metrics && opts.adminPort !== undefined
      ? await listen((await import('./observability/admin.ts')).adminHandler(metrics.registry, readiness.check, reloader.status.configz), opts.adminPort, opts.host)
      : undefined;
  readiness.warm(current().config, undefined);

  const first = current();
  log.info(
    {
      port: listener.port,
      adminPort: admin?.port,
      service: first.config.serviceName,
      config_id: first.configId,
      spec: first.file,
      selected_by: first.selectedBy,
      operations: first.config.operations.length,
      keys: opts.keys.split(':')[0],
      quotaStore: first.quota ? parts.quota.store : undefined,
      backendAuth: opts.backendAuth,
      downstreamMaxConnections: downstreamMax,
      heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20), // shows the V8 limits in force
    },
    'endpoints-gateway listening',
  );

  return {
    port: listener.port,
    adminPort: admin?.port,
    listener,
    metrics,
    service: () => current().service,
    readiness: readiness.check,
    configz: reloader.status.configz,
    reload: reloader.reload,
    close: async (graceMs) => {
      draining = true;
      readiness.drain();
      setGrace(graceMs);
      // The admin listener answers /readyz 503 until everything else has stopped.
      await life.close((name, err) => log.warn({ part: name, err: (err as Error)?.message }, 'a part failed to close'));
      await admin?.close(0);
    },
  };
}

function compileOptions(opts: GatewayOptions): CompileOptions {
  return {
    ...(opts.serviceName ? { serviceName: opts.serviceName } : {}),
    ...(opts.producerProject ? { producerProject: opts.producerProject } : {}),
    ...(opts.localBackend ? { localBackend: opts.localBackend } : {}),
    ...(opts.backendAddressOverride ? { backendAddressOverride: opts.backendAddressOverride } : {}),
  };
}
