/**
 * The two secrets sign-in needs, never from the spec: the session secret
 * (`$ENDPOINTS_SESSION_SECRET` or `--session-secret-file`) and the OAuth
 * client secret (`$ENDPOINTS_SIGNIN_CLIENT_SECRET` or
 * `--signin-client-secret-file`). A session-secret file holds the current
 * secret on its first line and, for rotation, previous ones after it: sessions
 * sealed with a previous secret keep working, new ones use the first.
 */
import { readFile } from 'node:fs/promises';

/** HKDF input below this would make the derived key guessable. */
export const MIN_SECRET_BYTES = 32;

export interface SigninSecrets {
  /** Current first, then previous ones still accepted. */
  readonly sessionSecrets: readonly string[];
  /** undefined: a public client (PKCE only). */
  readonly clientSecret: string | undefined;
}

/** Non-empty lines that are not `#` comments, trimmed (files from Secret Manager end with a newline). */
export function secretLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

async function readSecretFile(file: string, flag: string): Promise<string> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${flag} ${file}: cannot read it (${err.code ?? err.message})`);
  });
}

export async function loadSigninSecrets(
  opts: { readonly sessionSecretFile?: string | undefined; readonly clientSecretFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<SigninSecrets> {
  let sessionSecrets: string[];
  let from: string;
  if (opts.sessionSecretFile) {
    from = `--session-secret-file ${opts.sessionSecretFile}`;
    sessionSecrets = secretLines(await readSecretFile(opts.sessionSecretFile, '--session-secret-file'));
  } else {
    from = '$ENDPOINTS_SESSION_SECRET';
    sessionSecrets = secretLines(env.ENDPOINTS_SESSION_SECRET ?? '');
  }
  if (sessionSecrets.length === 0) {
    throw new Error(
      'the spec uses browser sign-in (x-endpoints-signin) but no session secret is set: put one of at least 32 bytes in $ENDPOINTS_SESSION_SECRET or a file named by --session-secret-file (e.g. openssl rand -base64 48)',
    );
  }
  sessionSecrets.forEach((s, i) => {
    if (Buffer.byteLength(s) < MIN_SECRET_BYTES) {
      throw new Error(`${from}: secret ${i + 1} is ${Buffer.byteLength(s)} bytes; session secrets need at least ${MIN_SECRET_BYTES} (e.g. openssl rand -base64 48)`);
    }
  });
  let clientSecret: string | undefined;
  if (opts.clientSecretFile) clientSecret = secretLines(await readSecretFile(opts.clientSecretFile, '--signin-client-secret-file'))[0];
  else if (env.ENDPOINTS_SIGNIN_CLIENT_SECRET) clientSecret = env.ENDPOINTS_SIGNIN_CLIENT_SECRET.trim();
  return { sessionSecrets, clientSecret: clientSecret || undefined };
}
