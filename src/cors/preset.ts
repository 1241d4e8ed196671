import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import { sendError } from '../http/answer.ts';
import { CORS_REGEX_LIMITS, type CorsOptions } from './options.ts';
import { LinearRegex } from '../config/linear-regex.ts';
import type { ServiceConfig } from '../config/types.ts';
import type { SpecProblem } from '../config/problems.ts';

/** ESPv2's direct response for an OPTIONS request it will not treat as a valid preflight. */
export const PREFLIGHT_REFUSED =
  'The CORS preflight request is missing one (or more) of the following required headers [Origin, Access-Control-Request-Method] or has an unmatched Origin header.';

const ANSWERED = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'] as const;

export interface CorsPresetHandler {
  /** Every response to an allowed origin carries the CORS headers, the gateway's own errors and /healthz included. */
  decorate(req: IncomingMessage, res: ServerResponse): void;
  /** Answers preflights (200, or ESPv2's 400); true when it answered. */
  answer(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * `--cors-preset`, as ESPv2 configures Envoy's CORS filter (filtergen/cors.go)
 * and its preflight routes (routegen/direct_response_cors.go):
 * - a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an
 *   allowed origin is answered 200 by the gateway: no key, no backend;
 * - any other OPTIONS goes to the spec's OPTIONS operation when the path has
 *   one, and is otherwise refused 400 with ESPv2's text;
 * - every response to an allowed origin gets Access-Control-Allow-Origin (the
 *   caller's origin), -Allow-Credentials and -Expose-Headers, replacing a
 *   backend's own, as Envoy's filter does.
 */
export function createCorsPreset(o: CorsOptions): CorsPresetHandler {
  const anyOrigin = o.preset === 'basic' && o.allowOrigin === '*';
  // The Origin header is the caller's: the regex runs on RE2's linear-time engine, never V8's backtracking one.
  const re = o.preset === 'cors_with_regex' ? LinearRegex.compile(o.allowOriginRegex, CORS_REGEX_LIMITS) : undefined;
  const allowed = (origin: string): boolean => (re ? re.matchesWhole(origin) : anyOrigin || origin === o.allowOrigin);
  const maxAge = String(Math.floor(o.maxAgeMs / 1000));

  const originOf = (req: IncomingMessage): string | undefined => {
    const v = req.headers.origin;
    return typeof v === 'string' && v !== '' ? v : undefined;
  };

  return {
    decorate(req, res) {
      const origin = originOf(req);
      if (origin === undefined || !allowed(origin)) return;
      res.setHeader('access-control-allow-origin', origin);
      if (o.allowCredentials) res.setHeader('access-control-allow-credentials', 'true');
      if (o.exposeHeaders !== '') res.setHeader('access-control-expose-headers', o.exposeHeaders);
      // Ours win over a backend's, as Envoy's filter overwrites them on the way out.
      const writeHead = res.writeHead;
      res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
        for (const a of args) {
          if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
            for (const k of Object.keys(a)) if ((ANSWERED as readonly string[]).includes(k.toLowerCase())) delete (a as Record<string, unknown>)[k];
          }
        }
        return (writeHead as (...x: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['writeHead'];
    },

    answer(req, res) {
      if (req.method !== 'OPTIONS') return false;
      const origin = originOf(req);
      const requested = req.headers['access-control-request-method'];
      if (origin !== undefined && allowed(origin) && typeof requested === 'string' && requested !== '') {
        const headers: Record<string, string> = { 'content-length': '0' };
        if (o.allowMethods !== '') headers['access-control-allow-methods'] = o.allowMethods;
        if (o.allowHeaders !== '') headers['access-control-allow-headers'] = o.allowHeaders;
        headers['access-control-max-age'] = maxAge;
        res.writeHead(200, headers);
        res.end();
        return true;
      }
      // Not a preflight ESPv2 honours: the spec's own OPTIONS operation, if the path has one.
      // The path normalized at entry, and the routes of the request's own snapshot.
      const ctx = req.gw;
      const path = ctx?.path ?? null;
      const router = ctx?.snapshot?.router;
      if (path === null || router === undefined) return false; // the chain refuses it
      if (router.match('OPTIONS', path).kind === 'found') return false;
      // Without any CORS header, even for an allowed origin (cors_integration_test: "Access-Control-Request-Method is missing").
      for (const h of ANSWERED) res.removeHeader(h);
      sendError(res, req.gw, new GatewayError(400, PREFLIGHT_REFUSED, 'cors_preflight_refused'));
      return true;
    },
  };
}

/** allowCors in the spec and a preset on the command line: two ways to answer preflights, refused together. */
export const ALLOW_CORS_WITH_PRESET =
  'allowCors: true (x-google-endpoints) sends CORS preflights to your backend, while --cors-preset makes the gateway answer them itself; ' +
  'the two modes exclude each other (ESPv2 accepts both and then confuses them: esp-v2#261, #424, #465). ' +
  'Keep allowCors and drop --cors-preset to let the backend handle CORS, or drop allowCors to let the gateway do it';

/** What a spec may not do under --cors-preset (checked at start and on every reload). */
export function corsSpecProblems(config: ServiceConfig): SpecProblem[] {
  return config.allowCors ? [{ where: 'x-google-endpoints', message: ALLOW_CORS_WITH_PRESET }] : [];
}
