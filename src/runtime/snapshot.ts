/**
 * Everything the gateway derives from one loaded spec, built once, off the
 * serving path, into one immutable object (Pomerium's per-config state).
 * A request takes the snapshot in force once, at entry (src/http/handler.ts),
 * and every stage, the proxy and the access log read that one: a reload
 * never changes a request half-way, and a request is logged with the config
 * that handled it.
 */
import type { CompiledService } from '../config/compile.ts';
import type { Operation, ServiceConfig } from '../config/types.ts';
import type { SelectedBy } from '../config/versions.ts';
import type { Router } from '../routing/router.ts';
import type { QuotaEnforcer } from '../quota/enforcer.ts';
import { ALWAYS_SECRET_PARAMS, secretNames } from '../observability/redact.ts';

export interface Snapshot {
  /** `<info.version>-<12 hex of SHA-256>`: in logs, /configz and metrics. */
  readonly configId: string;
  /** The file served (inside the folder when --spec names one). */
  readonly file: string;
  readonly selectedBy: SelectedBy;
  /** SHA-256 of the served bytes: what the docs page and the validators read back. */
  readonly digest: string;
  readonly service: CompiledService;
  readonly config: ServiceConfig;
  readonly router: Router<Operation>;
  /** Quota limiters of this config; limiters of unchanged limits are the previous snapshot's own. */
  readonly quota: QuotaEnforcer | undefined;
  /** Credential-carrying query parameter names, normalized for redaction (src/observability/redact.ts). */
  readonly secretNames: ReadonlySet<string>;
  /** Several services in one gateway: this one's name, for the access log (undefined with one). */
  readonly serviceLabel?: string | undefined;
}

/** The parts of a loaded version the snapshot is made from. */
export interface LoadedSpec {
  readonly service: CompiledService & { readonly digest: string };
  readonly file: string;
  readonly selectedBy: SelectedBy;
  readonly configId: string;
}

/** Query parameters that carry credentials in this spec: its key and JWT locations, plus the common names. */
function secretParamsOf(config: ServiceConfig): Set<string> {
  const names = new Set(ALWAYS_SECRET_PARAMS);
  for (const op of config.operations) {
    for (const l of op.security.apiKeyLocations) if (l.in === 'query') names.add(l.name);
    for (const alt of op.security.alternatives) {
      for (const s of alt) if (s.kind === 'jwt') for (const l of s.locations) if (l.in === 'query') names.add(l.name);
    }
  }
  return names;
}

/** Builds the snapshot of a loaded spec; `quota` is made by the process's quota runtime (it reuses unchanged limiters). */
export function buildSnapshot(loaded: LoadedSpec, quota: QuotaEnforcer | undefined): Snapshot {
  const { service } = loaded;
  return Object.freeze({
    configId: loaded.configId,
    file: loaded.file,
    selectedBy: loaded.selectedBy,
    digest: service.digest,
    service,
    config: service.config,
    router: service.router,
    quota,
    secretNames: secretNames(secretParamsOf(service.config)),
  });
}
