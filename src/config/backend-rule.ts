import type { BackendRule, BackendTlsSpec, PathTranslation } from './types.ts';
import type { Json } from './openapi.ts';

/** ESPv2's default upstream deadline (util.DefaultResponseDeadline). */
export const DEFAULT_DEADLINE_MS = 15_000;

export interface ParsedAddress {
  readonly scheme: 'http' | 'https';
  readonly hostname: string;
  readonly port: number;
  /** Path (percent-encoded as written) with trailing `/` removed; '' when none. The address's query is dropped (ESPv2). */
  readonly path: string;
}

/**
 * ESPv2's address rules (reference 1.1): no scheme means https; the port
 * defaults by scheme; the query is dropped; a trailing `/` is removed.
 * gRPC schemes are refused: this gateway forwards HTTP only.
 */
export function parseAddress(address: string): ParsedAddress | { error: string } {
  const withScheme = address.includes('://') ? address : `https://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { error: 'is not a valid URL' };
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'grpc' || scheme === 'grpcs') return { error: 'uses a gRPC scheme; this gateway forwards HTTP backends only (http:// or https://)' };
  if (scheme !== 'http' && scheme !== 'https') return { error: `uses the scheme "${scheme}"; use http:// or https://` };
  if (url.username || url.password) return { error: 'must not carry credentials' };
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  // Kept percent-encoded (ESPv2 decodes it; a decoded space or `?` could not be sent on a request line).
  let path = url.pathname;
  while (path.endsWith('/')) path = path.slice(0, -1);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { scheme, hostname, port, path };
}

/** `deadline` in seconds (number or numeric string); 0, unset or negative means 15 s (ESPv2). */
export function deadlineMs(value: unknown): number {
  const seconds = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : 0;
  if (!Number.isFinite(seconds) || seconds <= 0) return DEFAULT_DEADLINE_MS;
  return Math.max(1, Math.round(seconds * 1000));
}

/**
 * Builds a backend rule from an `x-google-backend` block. The default path
 * translation depends on where the block stands: APPEND at the top level,
 * CONSTANT on an operation (reference 1.2). Without jwt_audience the ID-token
 * audience is the address exactly as written, as Google's compiler sets it.
 */
export function backendRule(block: Json, level: 'top' | 'operation', local?: BackendRule, at = ''): BackendRule | { error: string } {
  const rule = addressedRule(block, level, local);
  if ('error' in rule) return rule;
  const tls = tlsSpec(block['x-endpoints-tls'], at);
  return tls ? { ...rule, tls } : rule;
}

/** `x-endpoints-tls` as written (checked by the extension schema already); `at` names the backend block. */
function tlsSpec(value: unknown, at: string): BackendTlsSpec | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Json;
  return {
    ...(typeof v.client_cert_path === 'string' ? { clientCertPath: v.client_cert_path } : {}),
    ...(typeof v.root_certs_file === 'string' ? { rootCertsFile: v.root_certs_file } : {}),
    where: at ? `${at}.x-endpoints-tls` : 'x-endpoints-tls',
  };
}

function addressedRule(block: Json, level: 'top' | 'operation', local?: BackendRule): BackendRule | { error: string } {
  // No address (ESPv2's examples/testdata/sidecar_backend: `{deadline: "7.5"}`): Google's compiler
  // emits a rule without one, which ESPv2 serves from its local --backend (no ID token, the
  // request's own path) with that block's deadline.
  if (block.address === undefined && local) {
    const rule = { ...local, deadlineMs: deadlineMs(block.deadline) };
    return block['x-endpoints-identity-header'] === true ? { ...rule, identityHeader: true } : rule;
  }
  const address = String(block.address);
  const parsed = parseAddress(address);
  if ('error' in parsed) return parsed;
  const translation: PathTranslation =
    block.path_translation === 'APPEND_PATH_TO_ADDRESS' || block.path_translation === 'CONSTANT_ADDRESS'
      ? block.path_translation
      : level === 'top'
        ? 'APPEND_PATH_TO_ADDRESS'
        : 'CONSTANT_ADDRESS';
  const audience = block.disable_auth === true ? null : typeof block.jwt_audience === 'string' ? block.jwt_audience : address;
  const rule = ruleFrom(address, parsed, translation, audience, deadlineMs(block.deadline), block.protocol === 'h2' ? 'h2' : 'http/1.1');
  const withHeader = block['x-endpoints-identity-header'] === true ? { ...rule, identityHeader: true } : rule;
  // Cloud Run reads the ID token from X-Serverless-Authorization first, leaving the app its own Authorization.
  return typeof block.serverless_header === 'string' ? { ...withHeader, serverlessHeader: true } : withHeader;
}

/** The rule for operations with no address: ESPv2 sends them to its local --backend with auth disabled. */
export function localBackendRule(address: string): BackendRule | { error: string } {
  const parsed = parseAddress(address);
  if ('error' in parsed) return parsed;
  return ruleFrom(address, parsed, 'APPEND_PATH_TO_ADDRESS', null, DEFAULT_DEADLINE_MS, 'http/1.1');
}

function ruleFrom(
  address: string,
  p: ParsedAddress,
  translation: PathTranslation,
  audience: string | null,
  deadline: number,
  protocol: 'http/1.1' | 'h2',
): BackendRule {
  const host = p.hostname.includes(':') ? `[${p.hostname}]` : p.hostname;
  return {
    address,
    scheme: p.scheme,
    hostname: p.hostname,
    port: p.port,
    origin: `${p.scheme}://${host}:${p.port}`,
    hostHeader: host,
    path: p.path,
    translation,
    audience,
    deadlineMs: deadline,
    protocol,
    identityHeader: false,
  };
}
