/** `--jwks-file ISSUER=PATH` as typed: parsed in the CLI without loading jose. */

export interface JwksFileEntry {
  readonly issuer: string;
  readonly path: string;
}

/**
 * Commander parser for the repeatable `--jwks-file` (and the comma-separated
 * `ENDPOINTS_JWKS_FILE`): `ISSUER=PATH[,ISSUER=PATH...]`, split at the first `=`
 * of each item (issuers are URLs or e-mail-like names without `=`).
 */
export function parseJwksFileOption(value: string, previous: readonly JwksFileEntry[] = []): JwksFileEntry[] {
  const out = [...previous];
  for (const item of value.split(',').map((v) => v.trim()).filter((v) => v !== '')) {
    const eq = item.indexOf('=');
    const issuer = eq < 0 ? '' : item.slice(0, eq).trim();
    const path = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (issuer === '' || path === '') throw new Error(`--jwks-file takes ISSUER=PATH (the issuer exactly as x-google-issuer writes it), got "${item}"`);
    if (out.some((e) => e.issuer === issuer)) throw new Error(`--jwks-file names the issuer "${issuer}" twice`);
    out.push({ issuer, path });
  }
  return out;
}
