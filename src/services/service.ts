/**
 * One service: one --spec (a file or a folder of its versions) with
 * everything that is its own — the snapshot in force and its reloader, its
 * sign-in, its docs page, its request chain and front door. A gateway serves
 * one of these, or several chosen by host (./services.ts).
 */
import type { CompileOptions } from '../config/compile.ts';
import type { ServiceConfig } from '../config/types.ts';
import type { SpecProblem } from '../config/problems.ts';
import { warnIfKeysNeededWithoutStore } from '../auth/apikeys/no-store-warning.ts';
import { ASSERTION_JWKS_PATH } from '../auth/assertion.ts';
import { corsSpecProblems } from '../cors/preset.ts';
import type { CorsPresetHandler } from '../cors/preset.ts';
import { createChain, type Stage } from '../chain/chain.ts';
import { createFrontDoor, type FrontDoorParts, type LocalRoute } from '../http/front-door.ts';
import type { Lifetime } from '../runtime/lifetime.ts';
import type { ProcessParts } from '../runtime/parts.ts';
import type { GatewayOptions } from '../runtime/options.ts';
import { openSpecs, type OpenedSpecs, type SpecLoaderParts } from '../runtime/spec-loader.ts';
import { createReloader, type Reloader } from '../runtime/reloader.ts';
import { buildSnapshot, type LoadedSpec, type Snapshot } from '../runtime/snapshot.ts';

export interface Service {
  /** The service name at start: what the host table, /configz and the logs call it. */
  readonly name: string;
  /** `host` and x-google-endpoints names of the config served at start. */
  readonly hostNames: readonly string[];
  readonly reloader: Reloader;
  readonly current: () => Snapshot;
  readonly stages: readonly Stage[];
  readonly routes: readonly LocalRoute[];
}

export interface ServiceShared {
  readonly parts: ProcessParts;
  readonly life: Lifetime;
  readonly cors: CorsPresetHandler | undefined;
  readonly ready: () => { ready: boolean; why: string };
  /** Several services: snapshots carry their service name for the access log. */
  readonly labelled: boolean;
  /** --forward-auth serving: the route every front door answers (it picks the service by the original host itself). */
  readonly forwardAuthRoute?: FrontDoorParts['forwardAuth'];
}

function compileOptions(opts: GatewayOptions): CompileOptions {
  return {
    ...(opts.serviceName ? { serviceName: opts.serviceName } : {}),
    ...(opts.producerProject ? { producerProject: opts.producerProject } : {}),
    ...(opts.localBackend ? { localBackend: opts.localBackend } : {}),
    ...(opts.backendAddressOverride ? { backendAddressOverride: opts.backendAddressOverride } : {}),
    ...(opts.disallowColonInWildcardPathSegment ? { disallowColonInWildcard: true } : {}),
  };
}

/** One --spec opened: its first config loaded (or refused: SpecError), its loader kept for reloads. */
export interface OpenedService {
  readonly specs: OpenedSpecs;
  readonly docsMod: typeof import('../docs-page/docs-page.ts') | undefined;
}

export interface OpenParts {
  /** Several services: a reload may not move this one to other hosts. */
  readonly labelled: boolean;
  /** --validate: prepares a config's traffic contract (needs the process parts). */
  readonly prepare: SpecLoaderParts['prepare'];
  /** Called when a worker starts validating the spec (the validated-spec cache lacked it). */
  readonly onValidating?: (() => void) | undefined;
  /** Opens a config's x-endpoints-tls credentials (src/tls/backend-tls-overrides.ts). */
  readonly openTls?: SpecLoaderParts['openTls'];
}

/** Loads the spec (throws SpecError before anything listens); needs nothing of the process parts but --validate's prepare. */
export async function openService(specFile: string, opts: GatewayOptions, o: OpenParts): Promise<OpenedService> {
  const docsMod = opts.docsPath !== undefined ? await import('../docs-page/docs-page.ts') : undefined;
  // With several services, the host table is built at start: a reload may not move a service to other hosts.
  let namesAtStart: string | undefined;
  const namesChange = (c: ServiceConfig): SpecProblem[] =>
    !o.labelled || namesAtStart === undefined || (c.hostNames ?? []).join(',') === namesAtStart
      ? []
      : [{ where: 'host', message: `changes the hosts this service is chosen for (host, x-google-endpoints: ${namesAtStart} before), which take effect only at start: restart the gateway to serve this spec` }];
  const specs = await openSpecs(
    { ...opts, specFile },
    {
      compile: compileOptions(opts),
      check: (c) => [...(docsMod ? docsMod.docsPathProblems(c, opts.docsPath!) : []), ...(opts.cors ? corsSpecProblems(c) : []), ...namesChange(c)],
      prepare: o.prepare,
      onValidating: o.onValidating,
      openTls: o.openTls,
    },
    opts.logger,
  );
  namesAtStart = (specs.first.service.config.hostNames ?? []).join(',');
  return { specs, docsMod };
}

/** Assembles what serves an opened spec: its snapshot and reloader, sign-in, docs page, chain and front door. */
export async function startService(opened: OpenedService, opts: GatewayOptions, s: ServiceShared): Promise<Service> {
  const { parts, life } = s;
  const log = opts.logger;
  const { docsMod } = opened;
  const { loader, source, first: loaded, skipped } = opened.specs;
  const build = async (next: LoadedSpec, previous: Snapshot | undefined): Promise<Snapshot> => {
    const snap = buildSnapshot(next, await parts.quotaFor(next.service.config, previous?.quota));
    return s.labelled ? Object.freeze({ ...snap, serviceLabel: next.service.config.serviceName }) : snap;
  };
  const reloader = createReloader({
    first: await build(loaded, undefined),
    source,
    load: () => loader.load(false),
    build,
    beforeLoad: async () => void (await parts.localJwks?.reload()), // --jwks-file keys are re-read with the spec
    onResult: (ok) => parts.metrics?.reload(ok, s.labelled ? loaded.service.config.serviceName : undefined),
    watch: Boolean(opts.watch),
    log,
  });
  const current = reloader.current;
  life.add('watcher', () => reloader.close());
  if (skipped) reloader.status.refused({ configId: skipped.configId, spec: skipped.file, problems: skipped.lines(skipped.file) });
  if (!parts.keys) warnIfKeysNeededWithoutStore(current().config, log);

  // Sign-in loads only for specs that use it; it refuses to start without its secret and public URL.
  const signin = current().config.signin
    ? await (await import('../signin/index.ts')).startSignin(opts.signin ?? {}, opts.trustedHops, () => current().config, (level, msg, fields) => log[level](fields ?? {}, msg))
    : undefined;
  life.add('sign-in', () => signin?.close());
  // The docs page publishes the bytes served: read as each config is swapped in, before the file can change again.
  const docsPage = docsMod?.createDocsPage(opts.docsPath!, () => ({ file: current().file, digest: current().digest, serviceName: current().config.serviceName }));
  await docsPage?.prime();
  reloader.onSwap(async () => void (await docsPage?.prime()));

  const chain = createChain({
    keys: parts.keys,
    tokens: parts.tokens,
    trustedHops: opts.trustedHops,
    allowUnderscoreHeaders: opts.underscoresInHeaders ?? false,
    jwt: parts.jwt,
    assertions: parts.assertions,
    validate: parts.validation?.checkRequest,
    signin,
    disallowEscapedSlashes: opts.disallowEscapedSlashesInPath === true,
    clientCerts: opts.tls?.clientRootCertFile !== undefined,
  });
  // Tracing on: the checks are recorded on sampled requests' spans (decided here, once).
  const stages = parts.tracing ? parts.tracing.traceStages(chain) : chain;
  const routes = createFrontDoor({
    ready: s.ready,
    jwks: { path: ASSERTION_JWKS_PATH, body: parts.assertions.jwksJson },
    docs: docsPage,
    signin: signin?.routes,
    cors: s.cors,
    forwardAuth: s.forwardAuthRoute,
  });
  const config: ServiceConfig = current().config;
  return { name: config.serviceName, hostNames: config.hostNames ?? [], reloader, current, stages, routes };
}
