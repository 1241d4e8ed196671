import type { Json } from './openapi.ts';
import type { SpecProblem } from './problems.ts';

/**
 * The service name keys' API targets and quotas name: --service-name, else the
 * spec's `host`. Google API Gateway specs often have no `host` (the gateway
 * gets its name at deploy time), so the hint says how to give it one.
 */
export function missingServiceNameProblem(doc: Json, serviceName: string | undefined): SpecProblem | undefined {
  if (serviceName || (typeof doc.host === 'string' && doc.host !== '')) return undefined;
  return {
    where: 'host',
    message:
      'is missing, and the gateway needs a service name (API keys\' API targets and quotas name it): ' +
      'pass --service-name NAME (ENDPOINTS_SERVICE_NAME), e.g. --service-name my-api.endpoints.my-project.cloud.goog, or set host in the spec',
  };
}
