/**
 * The services one gateway serves: one per --spec. With one, it serves every
 * host, exactly as a single-spec gateway always has (no host table, no
 * lookup). With several, each is chosen by the request's host (its `host` and
 * x-google-endpoints names, `*.` wildcards), else the --default-service,
 * else ESP's 404. Each keeps its own reloader: a refused reload of one never
 * touches another.
 */
import type { IncomingMessage } from 'node:http';
import type { ServiceConfig } from '../config/types.ts';
import type { GatewayOptions } from '../runtime/options.ts';
import { openService, startService, type OpenedService, type OpenParts, type Service, type ServiceShared } from './service.ts';
import { buildHostTable, normalizeHost, type HostTable } from './host-table.ts';
import { createHostReader } from './request-host.ts';
import { namesOf, sameServiceTwice } from './several-check.ts';

export interface Services {
  readonly list: readonly Service[];
  /** Several services: the index in `list` for a request, -1 for none (ESP's 404). Undefined with one service. */
  readonly pick: ((req: IncomingMessage) => number) | undefined;
  /**
   * The service for a host as a client or a proxy names it (`Host`, `X-Forwarded-Host`: any case, a port, a
   * trailing dot): what a forward-auth check uses for the host it was asked about. Undefined: none (ESP's 404).
   */
  forHost(host: string | undefined): Service | undefined;
  /** What GET /configz answers: one service's document, or `{services: {name: document}}`. */
  configz(): Record<string, unknown>;
  /** Reloads every service, each on its own; resolves whether all swapped. */
  reload(): Promise<boolean>;
  /** Every config served now, for the readiness warm-up and the config_info metric. */
  configs(): readonly ServiceConfig[];
}

/** Flags that name one service's value and so cannot apply to several; undefined when none is given. */
export function severalSpecsError(opts: GatewayOptions, specs: readonly string[]): string | undefined {
  if (specs.length < 2) return opts.defaultService !== undefined ? '--default-service needs more than one --spec' : undefined;
  if (opts.serviceName) return '--service-name names one service; with several --spec each service is named by its spec (host)';
  if (opts.configId) return "--config-id pins one service's version; with several --spec pin each folder with its pin file (`configs pin`)";
  return undefined;
}

export function specsOf(opts: GatewayOptions): readonly string[] {
  return opts.specFiles && opts.specFiles.length > 0 ? opts.specFiles : [opts.specFile];
}

/** Opens every --spec, one at a time: each load compiles off-thread and reports its own file's problems. */
export async function openServices(opts: GatewayOptions, o: Omit<OpenParts, 'labelled'>): Promise<OpenedService[]> {
  const specs = specsOf(opts);
  const problem = severalSpecsError(opts, specs);
  if (problem) throw new Error(problem);
  const opened: OpenedService[] = [];
  for (const spec of specs) opened.push(await openService(spec, opts, { ...o, labelled: specs.length > 1 }));
  return opened;
}

/** Assembles the opened specs into the services served, and the host table that chooses between several. */
export async function startServices(opts: GatewayOptions, shared: Omit<ServiceShared, 'labelled'>, opened: readonly OpenedService[]): Promise<Services> {
  const labelled = opened.length > 1;
  const list: Service[] = [];
  for (const o of opened) list.push(await startService(o, opts, { ...shared, labelled }));
  const configs = () => list.map((s) => s.current().config);
  if (!labelled) {
    const only = list[0]!;
    return { list, pick: undefined, forHost: () => only, configz: only.reloader.status.configz, reload: only.reloader.reload, configs };
  }

  const clash = sameServiceTwice(list.map((s) => ({ name: s.name, file: s.current().file })));
  if (clash) throw new Error(clash);
  // With sign-in on several hosts, one fixed redirect origin would send every service's users to one of them.
  if (opts.signin?.publicUrl && list.filter((s) => s.current().config.signin).length > 1) {
    throw new Error('--public-url names one origin, but several services use browser sign-in: leave it unset and run behind --trusted-hops proxies, so each service signs in on its own host');
  }
  let fallback: number | undefined;
  if (opts.defaultService !== undefined) {
    fallback = list.findIndex((s) => s.name === opts.defaultService);
    if (fallback < 0) throw new Error(`--default-service ${opts.defaultService}: no --spec serves it (services: ${list.map((s) => s.name).join(', ')})`);
  }
  const table: HostTable<number> = buildHostTable(
    list.map((s, i) => ({ names: namesOf(s), value: i, owner: `${s.name} (${s.current().file})` })),
    fallback,
  );
  const hostOf = createHostReader(opts.trustedHops);
  return {
    list,
    pick: (req) => table.pick(hostOf(req)) ?? -1,
    forHost: (host) => list[table.pick(normalizeHost(host)) ?? -1],
    configz: () => ({ services: Object.fromEntries(list.map((s) => [s.name, s.reloader.status.configz()])) }),
    reload: async () => {
      let all = true;
      for (const s of list) if (!(await s.reloader.reload())) all = false;
      return all;
    },
    configs,
  };
}

/** For the readiness warm-up: the audiences and JWT issuers of every service, as one config. */
export function unionOf(configs: readonly ServiceConfig[]): ServiceConfig {
  if (configs.length === 1) return configs[0]!;
  return {
    ...configs[0]!,
    audiences: [...new Set(configs.flatMap((c) => c.audiences))],
    operations: configs.flatMap((c) => c.operations),
  };
}
