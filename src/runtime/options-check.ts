/** Option combinations that cannot work, refused before anything is loaded (one line for the operator). */
import { corsOptionsError } from '../cors/options.ts';
import type { GatewayOptions } from './options.ts';

export function optionsProblem(opts: GatewayOptions): string | undefined {
  if (opts.cors) {
    const cors = corsOptionsError(opts.cors);
    if (cors) return cors;
  }
  if (opts.forwardAuth === 'admin' && opts.adminPort === undefined) return '--forward-auth admin needs --admin-port (the admin listener answers it)';
  // With --workers the primary serves the admin port, and it runs no chain.
  if (opts.forwardAuth === 'admin' && opts.adminInPrimary) return '--forward-auth admin is not available with --workers above 1 (the primary process serves the admin port): use --forward-auth serving';
  return undefined;
}
