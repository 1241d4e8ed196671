/**
 * Per-backend TLS credentials: an `x-endpoints-tls` block inside an
 * `x-google-backend` names a client certificate folder and a roots file for
 * that backend alone, in place of the gateway-wide flags. Each distinct pair of
 * files is opened once (and watched, like the flags' files) however many
 * backends or specs name it; a loaded spec opens what it names before it is
 * swapped in (a file that cannot be read refuses the spec), and a swap closes
 * what no served spec (nor one about to be) names any more, with its pools.
 */
import path from 'node:path';
import type { BackendTlsSpec, ServiceConfig } from '../config/types.ts';
import type { SpecProblem } from '../config/problems.ts';
import type { Logger } from '../observability/logger.ts';
import { openBackendTls, type BackendTls } from './backend-tls.ts';

/** One opened pair of files; `key` tells apart pools of one origin that use different credentials. */
export interface OverrideCredentials {
  readonly key: string;
  readonly tls: BackendTls;
}

export interface BackendTlsOverrides {
  /**
   * Opens the credentials a loaded config names (relative paths: from `specFile`'s folder). Problems name the
   * place; none: all opened. `owner` (the --spec it came from) keeps them from a `retain` run for another
   * service before this config is swapped in.
   */
  open(config: ServiceConfig, specFile: string, owner: string): Promise<SpecProblem[]>;
  /** The credentials of a rule's block, opened by `open` for its config. */
  of(spec: BackendTlsSpec): OverrideCredentials | undefined;
  /** Closes the credentials none of `served` names; each closed key goes to the onRelease listeners. */
  retain(served: readonly ServiceConfig[]): void;
  /** Called with the key of credentials closed by `retain` (their pools go with them). */
  onRelease(listener: (key: string) => void): void;
  close(): void;
}

const NAMES = { clientCertPath: 'client_cert_path', rootCertsFile: 'root_certs_file' };

function resolved(spec: BackendTlsSpec, specFile: string): { clientCertPath?: string; rootCertsFile?: string } {
  const dir = path.dirname(path.resolve(specFile));
  return {
    ...(spec.clientCertPath !== undefined ? { clientCertPath: path.resolve(dir, spec.clientCertPath) } : {}),
    ...(spec.rootCertsFile !== undefined ? { rootCertsFile: path.resolve(dir, spec.rootCertsFile) } : {}),
  };
}

function specsOf(config: ServiceConfig): Set<BackendTlsSpec> {
  const out = new Set<BackendTlsSpec>();
  for (const op of config.operations) if (op.backend.tls !== undefined) out.add(op.backend.tls);
  return out;
}

export function createBackendTlsOverrides(log: Logger): BackendTlsOverrides {
  const byKey = new Map<string, OverrideCredentials>();
  // Rule blocks are plain data from the compiled config: each is tied to what it resolved to when its config was opened.
  const bySpec = new WeakMap<BackendTlsSpec, OverrideCredentials>();
  const listeners: ((key: string) => void)[] = [];
  // Per --spec, what its latest opened config names: kept open until that --spec's next load replaces it.
  const pending = new Map<string, Set<string>>();

  return {
    async open(config, specFile, owner) {
      const problems: SpecProblem[] = [];
      const named = new Set<string>();
      for (const spec of specsOf(config)) {
        const files = resolved(spec, specFile);
        const key = `${files.clientCertPath ?? ''}\u0000${files.rootCertsFile ?? ''}`;
        let creds = byKey.get(key);
        if (creds === undefined) {
          try {
            creds = { key, tls: await openBackendTls(files, log, NAMES) };
          } catch (err) {
            problems.push({ where: spec.where, message: (err as Error).message });
            continue;
          }
          byKey.set(key, creds);
        }
        bySpec.set(spec, creds);
        named.add(key);
      }
      // What a refused config opened is closed by the next retain (another service may have come to share it meanwhile).
      if (problems.length === 0) pending.set(owner, named);
      return problems;
    },
    of: (spec) => bySpec.get(spec),
    retain(served) {
      const used = new Set<string>();
      for (const keys of pending.values()) for (const k of keys) used.add(k);
      for (const config of served) for (const spec of specsOf(config)) {
        const c = bySpec.get(spec);
        if (c !== undefined) used.add(c.key);
      }
      for (const [key, c] of byKey) {
        if (used.has(key)) continue;
        byKey.delete(key);
        c.tls.close();
        const [clientCertPath, rootCertsFile] = key.split('\u0000');
        log.info({ clientCertPath: clientCertPath || undefined, rootCertsFile: rootCertsFile || undefined }, 'backend TLS credentials closed: no served spec names them');
        for (const l of listeners) l(key);
      }
    },
    onRelease: (l) => void listeners.push(l),
    close() {
      for (const c of byKey.values()) c.tls.close();
      byKey.clear();
    },
  };
}
