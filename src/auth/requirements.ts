/**
 * Which security alternative a request can satisfy, once its JWT is known
 * (pure: no I/O). OpenAPI `security` is an OR of alternatives, each an AND of
 * schemes. ESPv2 checks the JWT first, then the API key, so this runs between
 * the two stages:
 *
 * - An alternative is still possible when every JWT scheme in it accepted the
 *   token. A possible alternative without an apiKey scheme satisfies the
 *   request: no key is needed, and (ESPv2's allow-unregistered rule) none is
 *   checked even if sent.
 * - Otherwise, if some possible alternative has an apiKey scheme, the request
 *   holds once a key verifies: the key stage runs and answers its own errors
 *   (missing key 401, invalid 400, ...).
 * - Otherwise it is refused: `Jwt is missing` without a token (ESPv2: every
 *   alternative needs a JWT), else the token verified for no alternative.
 *
 * Decisions where ESPv2 is unclear (reference 3.2 caveat): for
 * `[{jwt: []}, {api_key: []}]` a caller without a token must present a valid
 * key; Google's compiler is reported to drop the key alternative and require
 * the JWT instead. A present token that fails verification is always refused
 * (Envoy allow_missing semantics), even when a key alternative exists; that is
 * decided earlier, by the JWT stage.
 */
import type { GatewayError } from '../errors.ts';
import type { SecurityRequirement } from '../config/types.ts';
import { jwtError } from './jwt/errors.ts';

export type RequirementDecision =
  /** `alternative` holds without a key. */
  | { readonly kind: 'satisfied'; readonly alternative: number }
  /** `alternative` (the first such) holds once an API key verifies. */
  | { readonly kind: 'needs-key'; readonly alternative: number }
  | { readonly kind: 'refused'; readonly error: GatewayError };

/**
 * Decides for one request. `verified`: names of the schemes that accepted the
 * request's token; undefined when it carried none.
 */
export function decideRequirement(req: SecurityRequirement, verified: ReadonlySet<string> | undefined): RequirementDecision {
  const alts = req.alternatives;
  if (alts.length === 0) return { kind: 'satisfied', alternative: -1 };
  let needsKey = -1;
  for (let i = 0; i < alts.length; i++) {
    const alt = alts[i]!;
    let possible = true;
    let hasKey = false;
    for (const s of alt) {
      if (s.kind === 'apiKey') hasKey = true;
      else if (verified === undefined || !verified.has(s.name)) {
        possible = false;
        break;
      }
    }
    if (!possible) continue;
    if (!hasKey) return { kind: 'satisfied', alternative: i };
    if (needsKey < 0) needsKey = i;
  }
  if (needsKey >= 0) return { kind: 'needs-key', alternative: needsKey };
  return { kind: 'refused', error: jwtError(verified === undefined ? 'missing' : 'verificationFails') };
}
