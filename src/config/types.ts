/**
 * The compiled service configuration: plain typed data made once from
 * endpoint.yaml. Nothing on the request path reads the OpenAPI document;
 * every stage reads only these structures.
 */

export type PathTranslation = 'APPEND_PATH_TO_ADDRESS' | 'CONSTANT_ADDRESS';

export interface BackendRule {
  /** `address` exactly as written in the spec (the default ID-token audience). */
  readonly address: string;
  readonly scheme: 'http' | 'https';
  readonly hostname: string;
  readonly port: number;
  /** `scheme://host:port`, the proxy target. */
  readonly origin: string;
  /** Value of the Host header sent upstream: the hostname without port (ESPv2). */
  readonly hostHeader: string;
  /** The address path with any trailing `/` removed; '' when it has none. */
  readonly path: string;
  readonly translation: PathTranslation;
  /** Audience of the Google-signed ID token; null when `disable_auth` (or no auth). */
  readonly audience: string | null;
  readonly deadlineMs: number;
  readonly protocol: 'http/1.1' | 'h2';
  /** `x-endpoints-identity-header: true`: send the gateway-signed X-Endpoints-Gateway-Assertion. */
  readonly identityHeader: boolean;
  /** `serverless_header: X-Serverless-Authorization`: the ID token goes there, the caller's Authorization stays (src/signin). */
  readonly serverlessHeader?: boolean;
  /** `x-endpoints-tls`: this backend's own TLS credentials (src/tls/backend-tls-overrides.ts); absent: the gateway-wide flags. */
  readonly tls?: BackendTlsSpec;
}

/** An `x-endpoints-tls` block as written (paths not yet resolved: that needs the spec file's folder). */
export interface BackendTlsSpec {
  readonly clientCertPath?: string;
  readonly rootCertsFile?: string;
  /** Where the block stands in the spec, for problems with its files. */
  readonly where: string;
}

/** Where an API key may be read, in order (reference 3.1). */
export interface ApiKeyLocation {
  readonly in: 'query' | 'header';
  /** Query parameter name as written; header names are lower-cased. */
  readonly name: string;
}

export interface JwtLocation {
  readonly in: 'query' | 'header';
  readonly name: string;
  /** Required prefix of a header value, e.g. `Bearer `. */
  readonly valuePrefix: string;
}

export interface ApiKeyScheme {
  readonly kind: 'apiKey';
  readonly name: string;
  readonly locations: readonly ApiKeyLocation[];
}

export interface JwtScheme {
  readonly kind: 'jwt';
  readonly name: string;
  readonly issuer: string;
  /** null: discover through `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUri: string | null;
  readonly audiences: readonly string[];
  readonly locations: readonly JwtLocation[];
}

/** oauth2 accessCode with `x-endpoints-signin`: browser sign-in through an OpenID provider (src/signin). */
export interface SigninScheme {
  readonly kind: 'signin';
  readonly name: string;
  /** OpenID discovery from here. */
  readonly issuer: string;
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** Extra authorization request parameters (e.g. Google's access_type: offline). */
  readonly authorizationParams: Readonly<Record<string, string>>;
  /** Same-origin path the browser lands on after signing out. */
  readonly postLogoutPath: string;
}

export type SecurityScheme = ApiKeyScheme | JwtScheme | SigninScheme;

/**
 * OR of alternatives, AND inside one (OpenAPI `security`). An empty list of
 * alternatives means the operation is open.
 */
export interface SecurityRequirement {
  readonly alternatives: readonly (readonly SecurityScheme[])[];
  /** True iff every alternative contains an apiKey scheme (reference 3.2). */
  readonly apiKeyRequired: boolean;
  /** API-key locations to read for this operation (defaults or the scheme's). */
  readonly apiKeyLocations: readonly ApiKeyLocation[];
  /** Every JWT scheme the alternatives name, once each; empty: no JWT stage at all. */
  readonly jwtSchemes: readonly JwtScheme[];
  /** The union of those schemes' token locations, in declaration order. */
  readonly jwtLocations: readonly JwtLocation[];
  /** True iff every alternative contains a JWT scheme (else a missing token is allowed). */
  readonly jwtRequired: boolean;
  /** The sign-in scheme some alternative names (one per spec); null: no browser sign-in here. */
  readonly signin?: SigninScheme | null;
}

/** `x-endpoints-authorization`: who may call, checked against the verified JWT. */
export interface AuthorizationRule {
  /** Allowed emails, lower-cased. */
  readonly emails: readonly string[];
  /** Allowed email domains, lower-cased, without `@`. */
  readonly emailDomains: readonly string[];
  /** Each named claim must equal one of its values (or, for a list claim, contain one). */
  readonly claims: readonly { readonly name: string; readonly values: readonly (string | number | boolean)[] }[];
  /** The `groups` claim must contain one of these (sign-in users and JWTs alike). */
  readonly groups?: readonly string[];
  /** The verified TLS client certificate's subject or a URI/DNS SAN must be one of these; no JWT needed for this part. */
  readonly clientCertificates?: readonly string[];
}

export interface MetricCost {
  readonly metric: string;
  readonly cost: number;
}

export type QuotaWindow = 'second' | 'minute' | 'hour' | 'day';

export interface QuotaLimit {
  /** `quota.limits[].name` */
  readonly name: string;
  readonly metric: string;
  /** The unit as written, e.g. `1/min/{project}`. */
  readonly unit: string;
  readonly window: QuotaWindow;
  readonly windowSeconds: number;
  /** Who shares the budget: the consumer project, the single API key, the verified end user, or everyone with one value of a claim. */
  readonly per: 'project' | 'key' | 'user' | 'claim';
  /** For `per: 'claim'`: the claim's name. */
  readonly claim?: string;
  /** Set for a limit of the gateway's x-endpoints-quota block (absent: Google's x-google-management.quota). */
  readonly declaredIn?: 'x-endpoints-quota';
  readonly limit: number;
}

/** `x-endpoints-claim-headers` for one operation: which verified claims go upstream under which header names. */
export interface ClaimHeaders {
  /** [claim, lower-case header name] to set from the verified JWT or session. */
  readonly set: readonly (readonly [claim: string, header: string])[];
  /** Every header name the spec declares anywhere, lower-case: removed from what the caller sent, on every operation. */
  readonly strip: readonly string[];
}

export interface Operation {
  /** operationId, or a generated one for `x-google-allow: all` methods. */
  readonly id: string;
  /** `<service name>.<operationId>`: the name key restrictions' `methods` match. */
  readonly selector: string;
  readonly method: string;
  /** basePath + path as written in the spec (used in the 405 text). */
  readonly template: string;
  /** Without an address in the spec: the local --backend, as ESPv2 does. */
  readonly backend: BackendRule;
  readonly security: SecurityRequirement;
  /** ESPv2 `allow_unregistered_calls`: a key is never checked, even if sent. */
  readonly allowUnregistered: boolean;
  readonly metricCosts: readonly MetricCost[];
  /** An autogenerated `x-google-allow: all` method. */
  readonly autogenerated: boolean;
  /** null: no authorization rule beyond the security requirement. */
  readonly authorization: AuthorizationRule | null;
  /** x-endpoints-claim-headers; null (the common case, no cost per request) when the spec declares none. */
  readonly claimHeaders?: ClaimHeaders | null;
  /** x-endpoints-max-request-body-bytes (the operation's, else the top level's): replaces --max-request-body-bytes here. */
  readonly maxRequestBodyBytes?: number | undefined;
}

export interface ServiceConfig {
  /** Service name: --service-name, $ENDPOINTS_SERVICE_NAME, then the spec's host. */
  readonly serviceName: string;
  /** `info.version` as written ('' when absent): the first part of the config id. */
  readonly version: string;
  /** The producer project (for calls charged without a key), when known. */
  readonly producerProject: string;
  readonly basePath: string;
  readonly allowAll: boolean;
  /** x-google-endpoints `allowCors: true` for this service (OPTIONS routes generated). */
  readonly allowCors?: boolean;
  /** Located warnings from validation (a dangling $ref taken as any value, an ignored extension). */
  readonly warnings?: readonly string[];
  readonly operations: readonly Operation[];
  readonly quotaLimits: readonly QuotaLimit[];
  /** Backends with an ID-token audience, for readiness and prefetch. */
  readonly audiences: readonly string[];
  /** The spec's browser sign-in scheme (x-endpoints-signin), when it has one. */
  readonly signin?: SigninScheme | null;
  /** `host` and the x-google-endpoints names (`*.` wildcards kept): the hosts this service is chosen for when several share a gateway. */
  readonly hostNames?: readonly string[];
}
