import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { VaultError } from '../http/vault-error.ts';
import { type NewSession, resolveSession } from './sessions.ts';

/**
 * The session cookie: HttpOnly, SameSite=Strict, Path=/; Secure with the `__Host-` prefix
 * whenever the vault is served over https (browsers refuse Secure cookies on http://localhost).
 */
export interface SessionCookie {
  read(c: Context): string | undefined;
  write(c: Context, session: NewSession): void;
  clear(c: Context): void;
}

/** The cookie for a vault served at `origin`. */
export function sessionCookie(origin: string): SessionCookie {
  const secure = origin.startsWith('https:');
  const name = 'webkey_session';
  const prefix = secure ? ('host' as const) : undefined;
  const base = { path: '/', httpOnly: true, secure, sameSite: 'Strict' as const };
  return {
    read: (c) => getCookie(c, name, prefix),
    write: (c, session) => {
      setCookie(c, name, session.secret, {
        ...base,
        expires: session.expiresAt,
        ...(prefix ? { prefix } : {}),
      });
    },
    clear: (c) => {
      deleteCookie(c, name, { ...base, ...(prefix ? { prefix } : {}) });
    },
  };
}

/** Requires a live session; puts the customer id on the context, else answers 401. */
export function requireSession(
  ctx: VaultContext,
  cookie: SessionCookie,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = cookie.read(c);
    const session = secret ? await resolveSession(ctx, secret) : undefined;
    if (!session) throw new VaultError('unauthenticated');
    c.set('customerId', session.customerId);
    c.set('sessionIdHash', session.idHash);
    c.set('signedInAt', session.createdAt);
    await next();
  };
}

/** How recent a passkey ceremony must be for the changes that could take an account over. */
export const RECENT_SIGN_IN_MS = 5 * 60 * 1000;

/**
 * Refuses (403 reauthentication_required) a session that did not start with a passkey in the
 * last five minutes. Adding a passkey, removing one, replacing the recovery codes and opening a
 * standing grant would let whoever holds a stolen session cookie keep the account, or its data,
 * after the customer signed out everywhere; so they need the customer's passkey now, not only a
 * cookie. The customer confirms with `POST /api/v1/auth/reauthenticate/options` and the usual
 * sign-in verification, which starts a new session.
 *
 * @example
 * if (input.grantDays !== null) assertRecentSignIn(ctx, c.get('signedInAt'));
 */
export function assertRecentSignIn(ctx: VaultContext, signedInAt: number): void {
  if (ctx.clock().getTime() - signedInAt > RECENT_SIGN_IN_MS)
    throw new VaultError('reauthentication_required');
}

/**
 * After requireSession: {@link assertRecentSignIn} as middleware.
 *
 * @example
 * app.post('/recovery-codes', signedIn, recentSignIn, handler);
 */
export function requireRecentSignIn(ctx: VaultContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    assertRecentSignIn(ctx, c.get('signedInAt'));
    await next();
  };
}
