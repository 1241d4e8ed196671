/**
 * The request chain: every stage a request passes before it is forwarded, in
 * order, each with the reason for its place. ESPv2's filter list
 * (src/go/configgenerator/filter_generator.go) is the model and its
 * precedence (reference 4.2) the order. One runner (./runner.ts) runs this
 * list for plain requests and WebSocket upgrades alike.
 */
import type { Stage, StageParts, StageRun } from './stage.ts';
import { methodOverride, pathChecks, route, sanitizeHeaders } from './stages/request.ts';
import { apiKey, authorization, jwt, requirement, session } from './stages/identity.ts';
import { assertion, backendAuth, claimHeaders, pathRewrite, quota, validateRequest } from './stages/forwarding.ts';
import { escapedSlashes } from '../routing/path-switches.ts';
import { stampClientCert } from '../tls/client-cert.ts';

export type { Stage, StageParts, StageResult } from './stage.ts';

export function createChain(p: StageParts): readonly Stage[] {
  const list: [name: string, run: StageRun | undefined, why: string][] = [
    ['pathChecks', pathChecks(p), 'first, as in ESPv2: nothing is matched or authenticated on a path that cannot be read one way'],
    ['escapedSlashes', p.disallowEscapedSlashes ? escapedSlashes : undefined, "after pathChecks, before routing (Envoy's UNESCAPE_AND_REDIRECT): no route is matched on a path with an escaped slash"],
    ['methodOverride', methodOverride, 'before routing: the route and every check are those of the method the backend will run'],
    ['route', route, 'the operation decides every later check: 404/405 before any credential is looked at'],
    ['sanitizeHeaders', sanitizeHeaders, "before any stage sets the gateway's own headers: a caller can never pre-set them"],
    ['clientCert', p.clientCerts ? stampClientCert : undefined, 'after the caller\'s copy is dropped: only a verified client certificate is described to the backend (mTLS listener only)'],
    ['session', p.signin && session(p.signin), 'before the requirement, where a session counts as its scheme (sign-in on only)'],
    ['jwt', jwt(p), 'before the API key, as in ESPv2: the requirement may be met without a key'],
    ['requirement', requirement(p), "the spec's OR-of-AND: decides whether a key is still needed, or refuses"],
    ['apiKey', apiKey(p), 'after JWT, as in ESPv2: identifies the consumer project that quota charges'],
    ['authorization', authorization(p), 'needs the verified identity; refuses before any body is read or quota charged'],
    ['validateRequest', p.validate && validateRequest(p.validate), 'after the caller is known, before quota: a request refused for its contract costs no quota'],
    ['quota', quota, 'last of the checks: only a call that passed every other one is charged'],
    ['claimHeaders', claimHeaders, "after every check: a refused call carries no identity anywhere; the caller's copies of those names never pass"],
    ['assertion', assertion(p), 'after every check: it signs what they established, for the backend'],
    ['backendAuth', backendAuth(p), 'only for a call that will be forwarded: the ID token may have to be fetched'],
    ['pathRewrite', pathRewrite, 'last: every check above saw the path the caller sent; the backend gets its own'],
  ];
  return Object.freeze(list.filter((s) => s[1] !== undefined).map(([name, run, why]) => Object.freeze({ name, run: run!, why })));
}
