/**
 * What `serve` loads before it can listen: the specs (one per --spec) and the
 * process-lifetime parts. A spec the validated-spec cache lacks is validated
 * in a worker while the parts load their libraries here, so a cold start takes
 * the longer of the two, not their sum: the parts wait until that worker has
 * started, since loading them holds this thread for hundreds of ms.
 */
import { openServices } from '../services/services.ts';
import type { OpenedService } from '../services/service.ts';
import type { Lifetime } from './lifetime.ts';
import type { GatewayOptions } from './options.ts';
import { createProcessParts, type ProcessParts } from './parts.ts';
import type { MetricSources } from '../observability/metrics.ts';
import { createBackendTlsOverrides } from '../tls/backend-tls-overrides.ts';

export async function openSpecsAndParts(
  opts: GatewayOptions,
  life: Lifetime,
  sources: { readonly config: MetricSources['config'] },
): Promise<{ parts: ProcessParts; opened: OpenedService[] }> {
  // Specs open their x-endpoints-tls credentials as they load, before the parts (the backend pools) exist.
  const tlsOverrides = createBackendTlsOverrides(opts.logger);
  life.add('backend tls overrides', () => tlsOverrides.close());
  let validating!: () => void;
  const offThread = new Promise<void>((resolve) => (validating = resolve));
  const openedP = openServices(opts, {
    // --validate's contract needs the parts: the spec is loaded by then, so they may start.
    prepare: opts.validate === 'report' || opts.validate === 'enforce' ? async (service, file) => (validating(), (await partsP).validation?.prepare(service, file)) : undefined,
    onValidating: validating,
    openTls: (config, file, owner) => tlsOverrides.open(config, file, owner),
  });
  void openedP.finally(validating).catch(() => {}); // loaded or refused without a worker: start the parts anyway
  const partsP = offThread.then(() => createProcessParts(opts, life, sources, tlsOverrides));
  // A part's failure is reported before a spec's, as when they loaded one after the other.
  const [parts, opened] = await Promise.allSettled([partsP, openedP]);
  if (parts.status === 'rejected') throw parts.reason;
  if (opened.status === 'rejected') throw opened.reason;
  return { parts: parts.value, opened: opened.value };
}
