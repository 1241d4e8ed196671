/**
 * ESPv2's --log_request_headers, --log_response_headers and --log_jwt_payloads:
 * the named request and response headers and the named claims of the verified
 * JWT, added to the access-log line. A header that carries credentials
 * (Authorization, cookies, the spec's key headers, anything named like a key)
 * is logged as REDACTED; any other value goes through the same redaction as
 * the URL (key-shaped text and `key=value` pairs). Only primitive claims are
 * logged, as ESPv2 does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER_SYNTAX, normalizeName, REDACTED, redactSecrets } from './redact.ts';

export interface LogFieldFlags {
  readonly requestHeaders: readonly string[];
  readonly responseHeaders: readonly string[];
  readonly jwtClaims: readonly string[];
}

/** Parses a comma-separated list of names (lower-cased for headers). */
export function nameList(v: string | undefined, lower: boolean): string[] {
  if (v === undefined) return [];
  const out: string[] = [];
  for (const raw of v.split(',')) {
    const n = lower ? raw.trim().toLowerCase() : raw.trim();
    if (n !== '' && !out.includes(n)) out.push(n);
  }
  return out;
}

/** Headers whose whole value is a credential or a session, whatever the spec says. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-goog-api-key', 'x-endpoint-api-userinfo', 'x-endpoints-gateway-assertion', 'x-serverless-authorization']);

const q = JSON.stringify;

function headerText(v: string | number | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function headersJson(names: readonly string[], read: (name: string) => string | number | readonly string[] | undefined, secrets: ReadonlySet<string>): string {
  let out = '';
  for (const name of names) {
    const raw = headerText(read(name));
    if (raw === undefined) continue;
    const value = SECRET_HEADERS.has(name) || secrets.has(normalizeName(name)) ? REDACTED : redactSecrets(raw, secrets, HEADER_SYNTAX);
    out += `${out === '' ? '' : ','}${q(name)}:${q(value)}`;
  }
  return out;
}

/** The fields' JSON, each prefixed with a comma, for the access line ('' when there is nothing to add). */
export type LogFieldWriter = (req: IncomingMessage, secrets: ReadonlySet<string>) => string;

/** undefined when no flag names anything: the access log then does no work for them. */
export function createLogFieldWriter(f: LogFieldFlags | undefined): LogFieldWriter | undefined {
  if (f === undefined || (f.requestHeaders.length === 0 && f.responseHeaders.length === 0 && f.jwtClaims.length === 0)) return undefined;
  const { requestHeaders, responseHeaders, jwtClaims } = f;
  return (req, secrets) => {
    let line = '';
    if (requestHeaders.length > 0) {
      const h = headersJson(requestHeaders, (n) => req.headers[n], secrets);
      if (h !== '') line += `,"requestHeaders":{${h}}`;
    }
    const res = (req as IncomingMessage & { res?: ServerResponse }).res;
    if (responseHeaders.length > 0 && res !== undefined) {
      const h = headersJson(responseHeaders, (n) => res.getHeader(n), secrets);
      if (h !== '') line += `,"responseHeaders":{${h}}`;
    }
    const claims = req.gw?.user?.claims;
    if (jwtClaims.length > 0 && claims !== undefined) {
      let c = '';
      for (const name of jwtClaims) {
        const v = claims[name];
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') c += `${c === '' ? '' : ','}${q(name)}:${q(v)}`;
      }
      if (c !== '') line += `,"jwtPayloads":{${c}}`;
    }
    return line;
  };
}
