import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../context.ts';
import type { GatewayError } from '../errors.ts';
import type { IdTokenSource } from '../backend/id-tokens.ts';
import type { ApiKeyVerifier } from '../auth/apikeys/verifier.ts';
import type { JwtAuthenticator } from '../auth/jwt/authenticator.ts';
import type { AssertionSigner } from '../auth/assertion.ts';
import type { SigninRuntime } from '../signin/runtime.ts';
import type { CheckRequest } from './types.ts';

/**
 * undefined: go on; a GatewayError (or a sign-in page, which is one): the answer instead.
 * A promise may also settle to null (go on), so a store's own `null` needs no extra `.then` per request.
 */
export type StageResult = GatewayError | undefined | Promise<GatewayError | null | undefined>;

/** What the whole chain decides: null never leaves the runner. */
export type ChainResult = GatewayError | undefined | Promise<GatewayError | undefined>;

/** One step of the chain: reads the request's own snapshot (ctx.snapshot), never "the current spec". */
export type StageRun = (req: IncomingMessage, ctx: RequestContext) => StageResult;

export interface Stage {
  readonly name: string;
  /** Why it stands where it does. */
  readonly why: string;
  readonly run: StageRun;
}

/** The process-lifetime parts the stages use (per-spec data comes from ctx.snapshot). */
export interface StageParts {
  /** undefined: no key store configured; operations that need a key are refused 503. */
  readonly keys: ApiKeyVerifier | undefined;
  /** undefined: --backend-auth none. */
  readonly tokens: IdTokenSource | undefined;
  readonly trustedHops: number;
  /** ESPv2 (Envoy) refuses header names with `_` unless --underscores_in_headers. */
  readonly allowUnderscoreHeaders: boolean;
  /** undefined: operations with JWT schemes refuse tokens (`Jwks remote fetch is failed`). */
  readonly jwt: JwtAuthenticator | undefined;
  /** Signs X-Endpoints-Gateway-Assertion for backends with `x-endpoints-identity-header: true`. */
  readonly assertions: AssertionSigner | undefined;
  /** --validate report|enforce; undefined when off. */
  readonly validate: CheckRequest | undefined;
  /** Browser sign-in sessions (x-endpoints-signin); undefined: the spec has none. */
  readonly signin: SigninRuntime | undefined;
  /** --disallow-escaped-slashes-in-path: paths with %2F / %5C are redirected (src/routing/path-switches.ts). */
  readonly disallowEscapedSlashes?: boolean;
  /** --ssl-server-root-cert-path: the listener verifies client certificates, and the backend is told whose. */
  readonly clientCerts?: boolean;
}
