/**
 * Where sessions are kept, behind one interface:
 * - cookie mode (no store): the whole session sealed in the cookie. No
 *   per-request lookup, but a copy of the cookie stays valid until its
 *   absolute expiry (sign-out clears this browser's copy and revokes the
 *   refresh token, nothing more), and it must fit a cookie: over the limit,
 *   groups are trimmed to those the spec's rules name.
 * - store mode: the cookie holds a sealed opaque id; the session lives in the
 *   store until its expiry, a sign-out or a revoke, and is read on every request.
 */
import type { SealedCookieCodec } from './sealed-cookie.ts';
import { openSession, sealSession, withGroups, type Session } from './session.ts';
import type { SessionStore } from './session-store.ts';

/** Cookies above this are dropped by browsers (4096 with the name and attributes). */
export const MAX_COOKIE_VALUE = 3900;

export type Opened = { readonly session: Session; readonly handle: string } | undefined | 'unavailable';

export interface SessionKeeper {
  readonly stored: boolean;
  /** The new session's cookie value, or how large it would have been when it cannot fit. */
  issue(s: Session): Promise<{ cookie: string } | { tooLarge: number }>;
  open(cookie: string, now: number): Promise<Opened>;
  /** After a refresh: a new cookie value (cookie mode), '' (store updated in place), or undefined (ended meanwhile / cannot fit). */
  renew(handle: string, s: Session): Promise<string | undefined>;
  end(handle: string): Promise<void>;
}

export function cookieKeeper(codec: SealedCookieCodec, ruleGroups: () => ReadonlySet<string>): SessionKeeper {
  const fit = async (s: Session): Promise<{ cookie: string } | { tooLarge: number }> => {
    const full = await sealSession(codec, s);
    if (full.length <= MAX_COOKIE_VALUE) return { cookie: full };
    // Too many groups for a cookie: keep those authorization rules can check; the rest nobody here reads.
    const trimmed = await sealSession(codec, withGroups(s, ruleGroups()));
    return trimmed.length <= MAX_COOKIE_VALUE ? { cookie: trimmed } : { tooLarge: full.length };
  };
  return {
    stored: false,
    issue: fit,
    async open(cookie) {
      const session = await openSession(codec, cookie);
      return session ? { session, handle: cookie } : undefined;
    },
    async renew(_handle, s) {
      const r = await fit(s);
      return 'cookie' in r ? r.cookie : undefined;
    },
    async end() {
      // Nothing is kept anywhere but in the cookie, which the caller clears.
    },
  };
}

export function storeKeeper(cookieCodec: SealedCookieCodec, recordCodec: SealedCookieCodec, store: SessionStore, idleS: number | undefined): SessionKeeper {
  // Recording the last use on every request would cost a write each time: a tenth of the idle timeout is precise enough.
  const touchEveryS = idleS === undefined ? undefined : Math.max(1, Math.floor(idleS / 10));
  return {
    stored: true,
    async issue(s) {
      const data = await sealSession(recordCodec, s);
      const id = await store.create({
        data,
        sub: s.identity.sub,
        email: s.identity.email,
        name: s.identity.name,
        issuer: s.identity.iss,
        clientId: s.aud,
        origin: s.or,
        signedInAt: s.iat,
        expiresAt: s.exp,
      });
      return { cookie: await cookieCodec.seal({ sid: id }, s.exp) };
    },
    async open(cookie, now) {
      const p = await cookieCodec.open(cookie);
      if (!p || typeof p.sid !== 'string') return undefined;
      const sid = p.sid;
      let rec;
      try {
        rec = await store.get(sid);
      } catch {
        return 'unavailable';
      }
      if (!rec) return undefined;
      const session = await openSession(recordCodec, rec.data);
      if (!session) return undefined;
      if (idleS !== undefined && touchEveryS !== undefined) {
        if (now - rec.lastSeenAt > idleS) {
          await store.delete(sid).catch(() => undefined);
          return undefined;
        }
        if (now - rec.lastSeenAt >= touchEveryS) await store.touch(sid, now).catch(() => undefined);
      }
      return { session, handle: sid };
    },
    async renew(handle, s) {
      return (await store.update(handle, await sealSession(recordCodec, s))) ? '' : undefined;
    },
    async end(handle) {
      await store.delete(handle);
    },
  };
}
