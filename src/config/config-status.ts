/**
 * Which config the gateway serves, the one before it, and the last reload it
 * refused: what `GET /configz` on the admin port answers and what the
 * `endpoints_gateway_config_info` metric reads.
 */
import type { SelectedBy } from './versions.ts';

export interface ServedConfig {
  readonly configId: string;
  readonly version: string;
  /** The file served (inside the folder when --spec names one). */
  readonly spec: string;
  readonly selectedBy: SelectedBy;
  readonly loadedAt: string;
  readonly operations: number;
}

export interface RefusedReload {
  /** The refused file's id; undefined when nothing could be read (a pin naming a missing config). */
  readonly configId: string | undefined;
  readonly spec: string;
  readonly at: string;
  readonly problems: readonly string[];
}

export interface ConfigStatus {
  current(): ServedConfig;
  previousId(): string | undefined;
  /** Records a swap; returns the id it replaced (undefined at start or when the same bytes were loaded again). */
  served(c: Omit<ServedConfig, 'loadedAt'>): string | undefined;
  refused(r: Omit<RefusedReload, 'at'>): void;
  /** The /configz document. */
  configz(): Record<string, unknown>;
}

export function createConfigStatus(first: Omit<ServedConfig, 'loadedAt'>): ConfigStatus {
  let current: ServedConfig = { ...first, loadedAt: new Date().toISOString() };
  let previous: string | undefined;
  let lastRefused: RefusedReload | undefined;
  return {
    current: () => current,
    previousId: () => previous,
    served(c) {
      const replaced = c.configId !== current.configId ? current.configId : undefined;
      if (replaced !== undefined) previous = replaced;
      current = { ...c, loadedAt: new Date().toISOString() };
      return replaced;
    },
    refused(r) {
      lastRefused = { ...r, at: new Date().toISOString() };
    },
    configz: () => ({
      config_id: current.configId,
      version: current.version,
      spec: current.spec,
      selected_by: current.selectedBy,
      loaded_at: current.loadedAt,
      operations: current.operations,
      previous_config_id: previous ?? null,
      last_refused_reload: lastRefused
        ? { config_id: lastRefused.configId ?? null, spec: lastRefused.spec, at: lastRefused.at, problems: lastRefused.problems }
        : null,
    }),
  };
}
