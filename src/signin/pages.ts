/**
 * The gateway's own HTML pages (sign-in errors, access refused, redirects):
 * short, no script, one inline style allowed by its hash. Every one is sent
 * with `Cache-Control: no-store` and a strict Content-Security-Policy.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.ts';

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#202124}h1{font-size:1.4rem}a{color:#1a73e8}code{background:#f1f3f4;padding:0 .2rem}';
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

export const PAGE_CSP = pageCsp([]);

/** The pages' policy; `formTargets`: origins a form may also end up at (browsers check form-action on redirects too). */
export function pageCsp(formTargets: readonly string[]): string {
  return `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; form-action ${["'self'", ...formTargets].join(' ')}; frame-ancestors 'none'`;
}

/** Headers of every gateway page and redirect. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
});

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title: string, bodyHtml: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${bodyHtml}</body></html>`;
}

/**
 * A pipeline answer that is a page rather than ESP's JSON: sendError writes
 * its status, headers and body like any GatewayError (the page headers
 * replace the JSON content type).
 */
export class PageAnswer extends GatewayError {
  readonly html: string;
  constructor(status: number, html: string, reason: string, headers: Record<string, string> = {}) {
    super(status, reason, reason, { ...PAGE_HEADERS, ...headers });
    this.html = html;
  }
  override body(): string {
    return this.html;
  }
}

export function redirectAnswer(location: string, reason: string, setCookie?: string): PageAnswer {
  const html = page('Redirecting', `<p><a href="${escapeHtml(location)}">Continue</a></p>`);
  return new PageAnswer(302, html, reason, { location, ...(setCookie ? { 'set-cookie': setCookie } : {}) });
}

export function signinErrorPage(message: string): string {
  return page(
    'Sign-in failed',
    `<p>${escapeHtml(message)}</p><p>Nothing was signed in. Go back to the page you wanted and try again.</p>`,
  );
}

export function forbiddenPage(who: string, signOutPath: string): string {
  return page(
    'Access denied',
    `<p>You are signed in as <strong>${escapeHtml(who)}</strong>, who may not open this page.</p><p><a href="${escapeHtml(signOutPath)}">Sign out</a> to use another account.</p>`,
  );
}

export function configErrorPage(message: string): string {
  return page('Sign-in unavailable', `<p>${escapeHtml(message)}</p>`);
}

/**
 * What a GET of the sign-out path shows: a button that POSTs back. Signing
 * out acts only on a same-origin POST, so no link or image on another site
 * can sign anyone out.
 */
export function signOutPage(action: string, who: string | undefined): string {
  const as = who ? `<p>You are signed in as <strong>${escapeHtml(who)}</strong>.</p>` : '<p>You are not signed in on this browser.</p>';
  return page('Sign out', `${as}<form method="post" action="${escapeHtml(action)}"><button type="submit" id="sign-out">Sign out</button></form>`);
}

export function signOutRefusedPage(action: string): string {
  return page(
    'Sign-out not confirmed',
    `<p>Sign-out requests must come from this site's own sign-out page. Nothing was changed.</p><p><a href="${escapeHtml(action)}">Go to the sign-out page</a></p>`,
  );
}

export function tooLargePage(): string {
  return page(
    'Sign-in failed',
    '<p>Your account carries more information (groups, for example) than fits in a session cookie, so no session was started.</p><p>Ask the administrator of this site to run the gateway with a session store (<code>--session-store</code>), which holds identities of any size.</p>',
  );
}
