import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * The admin listener (--admin-port): Prometheus metrics, liveness and
 * readiness. Never on the serving port, so metrics are not exposed to API callers.
 */
export function adminHandler(registry: Registry, ready: () => { ready: boolean; why: string }, configz?: () => Record<string, unknown>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json' }).end('{"code":405,"message":"Method Not Allowed"}');
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":500,"message":"metrics unavailable"}'),
      );
      return;
    }
    if (path === '/configz' && configz) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(configz()));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      const r = ready();
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(r.ready ? { status: 'ready' } : { code: 503, message: `not ready: ${r.why}` }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":404,"message":"Not Found"}');
  };
}
