/**
 * The one error type every request stage answers with. ESPv2 replies with
 * `{"code": <http status>, "message": "<text>"}` (reference 4.1); `message`
 * already carries the gRPC code prefix where ESP puts one.
 */
export class GatewayError extends Error {
  readonly status: number;
  /** Extra response headers, e.g. Retry-After on quota refusals. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** A short machine label for logs and metrics (never contains a secret). */
  readonly reason: string;

  constructor(status: number, message: string, reason: string, headers?: Record<string, string>) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }

  body(): string {
    return JSON.stringify({ code: this.status, message: this.message });
  }
}

/** ESPv2's texts, word for word (reference 4.2). */
export const EspMessages = {
  notDefined: 'The current request is not defined by this API.',
  methodNotAllowed: (template: string) =>
    `The current request is matched to the defined url template "${template}" but its http method is not allowed`,
  missingApiKey:
    "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  apiKeyInvalid: 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.',
  apiKeyNotFound: 'INVALID_ARGUMENT: API key not found. Please pass a valid API key.',
  apiKeyExpired: 'INVALID_ARGUMENT: API key expired. Please renew the API key.',
  serviceNotActivated: (service: string) => `PERMISSION_DENIED: API ${service} is not enabled for the project.`,
  apiTargetBlocked: 'PERMISSION_DENIED:  The API targeted by this request is invalid for the given API key.',
  ipBlocked: 'PERMISSION_DENIED: IP address blocked.',
  refererBlocked: 'PERMISSION_DENIED: Referer blocked.',
  clientAppBlocked: 'PERMISSION_DENIED: Client application blocked.',
  keysUnavailable: 'UNAVAILABLE: One or more Google Service Control backends are unavailable.',
  /** Ours (ESPv2 always has Service Control): the gateway runs with --keys none. */
  noKeyStore: 'UNAVAILABLE: This gateway checks no API keys (it runs with --keys none), so a method that requires one cannot be called.',
  pathTooLong: 'Path is too long, max allowed size is 8192.',
  pathFragment: 'Path cannot contain fragment identifier (#)',
  upstreamTimeout: 'upstream request timeout',
  tokenNotFound: (aud: string) => `Token not found for audience: ${aud}`,
  internal: 'INTERNAL: Internal error in the gateway.',
} as const;

export const Errors = {
  notDefined: () => new GatewayError(404, EspMessages.notDefined, 'not_defined'),
  methodNotAllowed: (template: string) =>
    new GatewayError(405, EspMessages.methodNotAllowed(template), 'method_not_allowed'),
  missingApiKey: () => new GatewayError(401, EspMessages.missingApiKey, 'missing_api_key'),
  apiKeyInvalid: () => new GatewayError(400, EspMessages.apiKeyInvalid, 'api_key_invalid'),
  apiKeyExpired: () => new GatewayError(400, EspMessages.apiKeyExpired, 'api_key_expired'),
  serviceNotActivated: (service: string) =>
    new GatewayError(403, EspMessages.serviceNotActivated(service), 'service_not_activated'),
  apiTargetBlocked: () => new GatewayError(403, EspMessages.apiTargetBlocked, 'api_target_blocked'),
  ipBlocked: () => new GatewayError(403, EspMessages.ipBlocked, 'ip_blocked'),
  refererBlocked: () => new GatewayError(403, EspMessages.refererBlocked, 'referer_blocked'),
  clientAppBlocked: () => new GatewayError(403, EspMessages.clientAppBlocked, 'client_app_blocked'),
  keysUnavailable: () => new GatewayError(503, EspMessages.keysUnavailable, 'apikeys_unavailable'),
  noKeyStore: () => new GatewayError(503, EspMessages.noKeyStore, 'no_key_store'),
  pathTooLong: () => new GatewayError(400, EspMessages.pathTooLong, 'path_too_long'),
  pathFragment: () => new GatewayError(400, EspMessages.pathFragment, 'path_fragment'),
  badRequest: (message = 'Bad Request') => new GatewayError(400, message, 'bad_request'),
  upstreamTimeout: () => new GatewayError(504, EspMessages.upstreamTimeout, 'upstream_timeout'),
  tokenNotFound: (aud: string) => new GatewayError(500, EspMessages.tokenNotFound(aud), 'token_not_found'),
  internal: () => new GatewayError(500, EspMessages.internal, 'internal'),
} as const;
