/**
 * `--backend-address-override URL`, ESPv2's `--enable_backend_address_override`
 * with `--backend`: every operation goes to this one backend, so a CI job can
 * run the production spec, with all its checks, against the backend under
 * test. As ESPv2 does under that flag:
 * - path translation is off (configgenerator's path_rewrite skips every rule):
 *   the backend gets the request's own path and query, `basePath` included;
 * - the operation's deadline is kept, and so is its ID-token audience
 *   (`jwt_audience`, or derived from the spec's address; `disable_auth` still
 *   sends none): backend_auth is generated from the backend rules, override or not;
 * - the local backend's protocol (HTTP/1.1 for `http://`/`https://`), not the rule's `protocol`.
 */
import { localBackendRule } from '../config/backend-rule.ts';
import type { BackendRule } from '../config/types.ts';

/** The override target; an error when the URL is not `http(s)://host[:port]` (a path would be ignored by ESPv2: refused here). */
export function overrideTarget(url: string): BackendRule | { error: string } {
  if (!/^https?:\/\//i.test(url)) return { error: `must be an http:// or https:// URL, got "${url}"` };
  const rule = localBackendRule(url);
  if ('error' in rule) return rule;
  if (rule.path !== '' || url.includes('?') || url.includes('#'))
    return { error: `takes scheme://host[:port] only: calls keep their own path and query, got "${url}"` };
  return rule;
}

/** `rule` redirected to `target`: where it goes changes, what the operation asks of the call does not. */
export function overriddenRule(rule: BackendRule, target: BackendRule): BackendRule {
  return {
    ...target,
    translation: 'APPEND_PATH_TO_ADDRESS',
    path: '',
    audience: rule.audience,
    deadlineMs: rule.deadlineMs,
    identityHeader: rule.identityHeader,
    ...(rule.serverlessHeader ? { serverlessHeader: true } : {}),
  };
}
