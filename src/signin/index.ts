/** Browser sign-in (identity-aware proxy mode): what the gateway wires in when a spec uses x-endpoints-signin. */
import type { ServiceConfig, SigninScheme } from '../config/types.ts';
import { loadSigninSecrets } from './secrets.ts';
import { createSigninRuntime, DEFAULT_SESSION_TTL_MS, type SigninRuntime } from './runtime.ts';
import { sessionLifetime } from './lifetime.ts';
import { openSessionStore, parseSessionStore } from './session-store.ts';
import { workerRole } from '../workers/role.ts';
import { cookieDomainProblem, parseCookieDomain } from './cookie-domain.ts';

export type { SigninRuntime } from './runtime.ts';

export interface SigninFlags {
  readonly publicUrl?: string | undefined;
  readonly sessionSecretFile?: string | undefined;
  readonly clientSecretFile?: string | undefined;
  /** Absolute session lifetime from sign-in. */
  readonly sessionTtlMs?: number | undefined;
  /** Ends sessions unused this long (needs a store). */
  readonly sessionIdleTimeoutMs?: number | undefined;
  /** `redis://…`: server-side sessions; undefined: stateless cookies. */
  readonly sessionStore?: string | undefined;
  /** `.example.com`: one session cookie for every sign-in service below it (cookie-domain.ts). */
  readonly cookieDomain?: string | undefined;
}

/** The claim names `x-endpoints-authorization` rules check anywhere in the spec. */
export function ruleClaimNames(config: ServiceConfig): string[] {
  const names = new Set<string>();
  for (const op of config.operations) for (const c of op.authorization?.claims ?? []) names.add(c.name);
  return [...names];
}

/** The groups `x-endpoints-authorization` rules name anywhere in the spec. */
export function ruleGroups(config: ServiceConfig): Set<string> {
  const out = new Set<string>();
  for (const op of config.operations) for (const g of op.authorization?.groups ?? []) out.add(g);
  return out;
}

/** Throws, with what to set, when the spec needs sign-in and a secret or the public URL is missing. */
export async function startSignin(
  flags: SigninFlags,
  trustedHops: number,
  config: () => ServiceConfig,
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void,
): Promise<SigninRuntime> {
  const secrets = await loadSigninSecrets(flags);
  // Checked before anything connects: a value that cannot be honoured stops the start, with the reason.
  const lifetime = sessionLifetime(flags.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, flags.sessionIdleTimeoutMs, Boolean(flags.sessionStore));
  if (flags.sessionStore) parseSessionStore(flags.sessionStore);
  const cookieDomain = flags.cookieDomain === undefined ? undefined : parseCookieDomain(flags.cookieDomain);
  if (cookieDomain !== undefined) {
    const c = config();
    const problem = cookieDomainProblem(cookieDomain, c.serviceName, c.hostNames ?? [], flags.publicUrl);
    if (problem) throw new Error(problem);
  }
  // Worked out once per spec (a reload brings a new config object).
  let seen: ServiceConfig | undefined;
  let names: string[] = [];
  let groups = new Set<string>();
  const refresh = () => {
    const c = config();
    if (c !== seen) {
      seen = c;
      names = ruleClaimNames(c);
      groups = ruleGroups(c);
    }
  };
  const claimNames = () => (refresh(), names);
  const scheme = (): SigninScheme | null | undefined => config().signin;
  let lastError = 0;
  const store = flags.sessionStore
    ? openSessionStore(flags.sessionStore, (err) => {
        // ioredis retries on its own; one line per minute is enough to notice.
        if (Date.now() - lastError < 60_000) return;
        lastError = Date.now();
        log('error', 'sign-in: session store error', { err: err.message });
      })
    : undefined;
  if (store) log('info', 'sign-in: sessions are kept in the session store', { store: store.display, ttlS: lifetime.ttlS, idleS: lifetime.idleS });
  try {
    // With --workers, the primary makes sure one session's refresh runs in one worker at a time.
    const refreshSharing = workerRole() ? (await import('../workers/refresh-sharing.ts')).workerRefreshSharing() : undefined;
    return createSigninRuntime({ secrets, publicUrl: flags.publicUrl, trustedHops, lifetime, store, cookieDomain, scheme, claimNames, ruleGroups: () => (refresh(), groups), log, refreshSharing });
  } catch (err) {
    await store?.close();
    throw err;
  }
}
