/**
 * The reserved paths are the gateway's, with or without sign-in configured:
 * never proxied (a backend route there would be shadowed the day sign-in is
 * turned on). Kept free of the sign-in stack so a gateway without sign-in
 * loads none of it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors } from '../errors.ts';

export const RESERVED_PATHS: readonly string[] = ['/.endpoints/callback', '/.endpoints/sign_out', '/.endpoints/userinfo'];

type LocalRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

function isReserved(url: string): boolean {
  if (!url.startsWith('/.endpoints/')) return false;
  const q = url.indexOf('?');
  return RESERVED_PATHS.includes(q < 0 ? url : url.slice(0, q));
}

/** The routes answered before the pipeline, in order; reserved paths nobody answered get 404. */
export function composeLocalRoutes(...handlers: (LocalRoutes | undefined)[]): LocalRoutes {
  const list = handlers.filter((h): h is LocalRoutes => h !== undefined);
  return (req, res) => {
    for (const h of list) if (h(req, res)) return true;
    if (!isReserved(req.url ?? '/')) return false;
    const body = Errors.notDefined().body();
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return true;
  };
}
