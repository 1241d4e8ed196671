/**
 * Removes credentials from text that is about to be logged: values of
 * `name=value` pairs whose name is a credential name, and anything shaped like
 * a Google API key wherever it appears (a path segment, a header, an error
 * message). The marker is `REDACTED`; the parameter name stays, so a line still
 * shows how the caller sent its key.
 *
 * Runs per request (the access log), so each step starts with an `indexOf`
 * that skips it for the usual text, which has neither `=` nor `AIza`.
 */

export const REDACTED = 'REDACTED';

/**
 * Names a key or token is commonly sent under, compared by {@link normalizeName}
 * (case, `-`, `_` and a `[...]` suffix ignored: `API-Key`, `api_key[]` and
 * `apikey` are one name). ESP's own are `key` and `api_key`; `access_token` is
 * OAuth's (RFC 6750 §2.3).
 */
export const COMMON_SECRET_PARAMS: readonly string[] = [
  'key',
  'apikey',
  'api_key',
  'x-api-key',
  'x-goog-api-key',
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'auth',
  'auth_token',
  'authorization',
  'bearer',
  'jwt',
  'secret',
  'client_secret',
  'password',
  'signature',
  'sig',
];

/** A Google API key: `AIza` and 35 URL-safe characters; a longer run is taken whole. */
const GOOGLE_KEY = /AIza[0-9A-Za-z_-]{35,}/g;

/** The comparable form of a parameter name: percent-decoded, lower case, without `-`, `_` or a `[...]` suffix. */
export function normalizeName(raw: string): string {
  let s = raw;
  if (s.indexOf('%') >= 0 || s.indexOf('+') >= 0) {
    try {
      s = decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      /* not valid percent-encoding: compare it as it is */
    }
  }
  const bracket = s.indexOf('[');
  if (bracket > 0) s = s.slice(0, bracket);
  s = s.trim().toLowerCase();
  if (s.indexOf('-') >= 0 || s.indexOf('_') >= 0) s = s.replace(/[-_]/g, '');
  return s;
}

/** A set of credential names in {@link normalizeName} form, ready for {@link redactSecrets}. */
export function secretNames(names: Iterable<string> = []): ReadonlySet<string> {
  const set = new Set<string>();
  for (const n of COMMON_SECRET_PARAMS) set.add(normalizeName(n));
  for (const n of names) set.add(normalizeName(n));
  return set;
}

/** Which characters end a name (looking back from `=`) and which end a value, per kind of text. */
interface Syntax {
  readonly nameStart: Uint8Array;
  readonly valueEnd: Uint8Array;
}

function charSet(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/**
 * A URL: pairs are separated by `&` or `;` (HTML forms' alternative separator),
 * and may follow `?` or `/` (a second `?`, a matrix parameter, a URL nested in
 * a value). A value runs to `&`, `;` or `#`, never stopping at `/` or `?`,
 * which a value may contain.
 */
export const URL_SYNTAX: Syntax = { nameStart: charSet('?&;/#'), valueEnd: charSet('&;#') };
/** A header value (User-Agent): also words separated by spaces, commas or parentheses. */
export const HEADER_SYNTAX: Syntax = { nameStart: charSet('?&;/# ,()'), valueEnd: charSet('&;# ,()') };
/** A serialized JSON log line: strings end at `"`, escapes start with `\`. */
export const JSON_SYNTAX: Syntax = { nameStart: charSet('?&;/# ,()"\\{}[]:'), valueEnd: charSet('&;# ,()"\\{}') };

function isIn(table: Uint8Array, c: number): boolean {
  return c < 128 && table[c] === 1;
}

/**
 * Replaces the value of every `name=value` whose name is in `secret` (in
 * {@link normalizeName} form), and every Google-API-key-shaped run. Returns
 * `text` itself when nothing was replaced.
 */
export function redactSecrets(text: string, secret: ReadonlySet<string>, syntax: Syntax = URL_SYNTAX): string {
  let out = text;
  if (text.indexOf('=') >= 0) out = redactPairs(text, secret, syntax);
  if (out.indexOf('AIza') >= 0) out = out.replace(GOOGLE_KEY, REDACTED);
  return out;
}

function redactPairs(text: string, secret: ReadonlySet<string>, syntax: Syntax): string {
  const { nameStart, valueEnd } = syntax;
  const n = text.length;
  let pieces: string[] | undefined;
  let copied = 0; // text[0, copied) is already in pieces
  let floor = 0; // a name never reaches back past this
  for (;;) {
    const eq = text.indexOf('=', floor);
    if (eq < 0) break;
    let start = eq;
    while (start > floor && !isIn(nameStart, text.charCodeAt(start - 1))) start--;
    let end = eq + 1;
    while (end < n && !isIn(valueEnd, text.charCodeAt(end))) end++;
    if (end > eq + 1 && start < eq && secret.has(normalizeName(text.slice(start, eq)))) {
      pieces ??= [];
      pieces.push(text.slice(copied, eq + 1), REDACTED);
      copied = end;
      floor = end;
    } else {
      // Not a secret: its value may still hold one (`next=/cb?key=...`).
      floor = eq + 1;
    }
  }
  if (pieces === undefined) return text;
  pieces.push(text.slice(copied));
  return pieces.join('');
}

/** Query parameters that carry credentials in every spec (ESP's key names and JWT's access_token). */
export const ALWAYS_SECRET_PARAMS: readonly string[] = ['key', 'api_key', 'access_token'];
