/**
 * A failing request as a `curl` line to paste into a shell, with the secrets
 * as shell variables (`$KEY`, `$JWT`): reports and CI logs never hold them.
 */
import { urlOf } from './http.ts';
import type { PlannedRequest } from './request.ts';

export interface Secret {
  readonly value: string;
  /** The shell variable shown instead, e.g. `KEY`. */
  readonly variable: string;
}

const MARK = '\u0001';

/** Every occurrence of a secret (as is or percent-encoded) replaced by its placeholder. */
export function maskSecrets(text: string, secrets: readonly Secret[], placeholder = (s: Secret) => `$${s.variable}`): string {
  let out = text;
  for (const s of secrets) {
    if (s.value.length < 4) continue;
    for (const form of new Set([s.value, encodeURIComponent(s.value)])) out = out.split(form).join(placeholder(s));
  }
  return out;
}

/** Double-quoted for sh, with the secrets left as `${VAR}` expansions. */
function quoted(text: string, secrets: readonly Secret[]): string {
  const marked = maskSecrets(text, secrets, (s) => `${MARK}${s.variable}${MARK}`);
  const escaped = marked.replace(/[\\"$`]/g, (c) => `\\${c}`);
  return `"${escaped.replace(new RegExp(`${MARK}([A-Za-z_][A-Za-z0-9_]*)${MARK}`, 'g'), '${$1}')}"`;
}

export function curlLine(base: string, req: PlannedRequest, secrets: readonly Secret[]): string {
  const parts = ['curl', '-sS', '-i'];
  if (req.method !== 'GET' || req.body) parts.push('-X', req.method);
  for (const [k, v] of Object.entries(req.headers)) parts.push('-H', quoted(`${k}: ${v}`, secrets));
  if (req.body) {
    parts.push('-H', quoted(`content-type: ${req.body.contentType}`, secrets));
    parts.push('--data-raw', quoted(req.body.text, secrets));
  }
  parts.push(quoted(urlOf(base, req), secrets));
  return parts.join(' ');
}
