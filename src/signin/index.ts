/** Browser sign-in (identity-aware proxy mode): what the gateway wires in when a spec uses x-endpoints-signin. */
import type { SigninScheme } from '../config/types.ts';
import { loadSigninSecrets } from './secrets.ts';
import { createSigninRuntime, type SigninRuntime } from './runtime.ts';

export type { SigninRuntime } from './runtime.ts';

export interface SigninFlags {
  readonly publicUrl?: string | undefined;
  readonly sessionSecretFile?: string | undefined;
  readonly clientSecretFile?: string | undefined;
  readonly sessionTtlMs?: number | undefined;
}

/** Throws, with what to set, when the spec needs sign-in and a secret or the public URL is missing. */
export async function startSignin(
  flags: SigninFlags,
  trustedHops: number,
  scheme: () => SigninScheme | null | undefined,
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void,
): Promise<SigninRuntime> {
  const secrets = await loadSigninSecrets(flags);
  return createSigninRuntime({ secrets, publicUrl: flags.publicUrl, trustedHops, sessionTtlMs: flags.sessionTtlMs, scheme, log });
}
