/**
 * x-endpoints-claim-headers on the request path: the caller's headers of the
 * declared names are removed, then the verified claims (JWT or sign-in
 * session) are written under them. A claim value is made safe for a header
 * line here, so no claim an issuer signs can split or smuggle a header.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClaimHeaders } from '../config/types.ts';

/** Longest value sent, in bytes: a claim longer than this is left out rather than cut (a cut id would name someone else). */
export const MAX_CLAIM_HEADER_BYTES = 4096;

/** Control characters (CR, LF and NUL among them) and DEL: never in a header value. TAB stays, as HTTP allows it. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

function plain(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * The header value of one claim, or undefined when it has none: a string,
 * number or boolean as is, a list of those joined by commas (groups, roles),
 * anything else left out. Control characters are dropped; text beyond ASCII
 * goes as its UTF-8 bytes, as a header carries it on the wire.
 */
export function claimHeaderValue(v: unknown): string | undefined {
  let text: string | undefined;
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (const item of v) {
      const p = plain(item);
      if (p !== undefined) parts.push(p);
    }
    text = parts.length > 0 ? parts.join(',') : undefined;
  } else {
    text = plain(v);
  }
  if (text === undefined) return undefined;
  const clean = text.replace(CONTROL, '').trim();
  if (clean === '') return undefined;
  const bytes = Buffer.from(clean, 'utf8');
  if (bytes.length > MAX_CLAIM_HEADER_BYTES) return undefined;
  // Node writes a header string as latin1: the UTF-8 bytes go out unchanged.
  return bytes.toString('latin1');
}

/** Removes every declared name the caller sent, then sets this operation's from the verified claims. */
export function applyClaimHeaders(headers: IncomingHttpHeaders, ch: ClaimHeaders, claims: Readonly<Record<string, unknown>> | undefined): void {
  for (const h of ch.strip) if (headers[h] !== undefined) delete headers[h];
  if (claims === undefined) return;
  for (const [claim, header] of ch.set) {
    const value = claimHeaderValue(Object.hasOwn(claims, claim) ? claims[claim] : undefined);
    if (value !== undefined) headers[header] = value;
  }
}
