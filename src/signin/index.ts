/** Browser sign-in (identity-aware proxy mode): what the gateway wires in when a spec uses x-endpoints-signin. */
import type { ServiceConfig, SigninScheme } from '../config/types.ts';
import { loadSigninSecrets } from './secrets.ts';
import { createSigninRuntime, type SigninRuntime } from './runtime.ts';

export type { SigninRuntime } from './runtime.ts';

export interface SigninFlags {
  readonly publicUrl?: string | undefined;
  readonly sessionSecretFile?: string | undefined;
  readonly clientSecretFile?: string | undefined;
  readonly sessionTtlMs?: number | undefined;
}

/** The claim names `x-endpoints-authorization` rules check anywhere in the spec. */
export function ruleClaimNames(config: ServiceConfig): string[] {
  const names = new Set<string>();
  for (const op of config.operations) for (const c of op.authorization?.claims ?? []) names.add(c.name);
  return [...names];
}

/** Throws, with what to set, when the spec needs sign-in and a secret or the public URL is missing. */
export async function startSignin(
  flags: SigninFlags,
  trustedHops: number,
  config: () => ServiceConfig,
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void,
): Promise<SigninRuntime> {
  const secrets = await loadSigninSecrets(flags);
  // Worked out once per spec (a reload brings a new config object).
  let seen: ServiceConfig | undefined;
  let names: string[] = [];
  const claimNames = () => {
    const c = config();
    if (c !== seen) {
      seen = c;
      names = ruleClaimNames(c);
    }
    return names;
  };
  const scheme = (): SigninScheme | null | undefined => config().signin;
  return createSigninRuntime({ secrets, publicUrl: flags.publicUrl, trustedHops, sessionTtlMs: flags.sessionTtlMs, scheme, claimNames, log });
}
