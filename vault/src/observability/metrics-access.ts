import { createHash, timingSafeEqual } from 'node:crypto';

/** What a request to `/metrics` may see. */
export type MetricsAccess = 'allowed' | 'unauthenticated' | 'disabled';

/**
 * Who may read `/metrics`. Its counters hold no personal data but do tell why redemptions were
 * refused (`used_up`, `expired`...), which the vault otherwise tells no vendor: read before and
 * after a try, they would undo the one indistinguishable refusal. So with a token configured
 * (`WEBKEY_METRICS_TOKEN`) only `Authorization: Bearer <token>` is let in; without one the
 * endpoint does not exist, except in development mode, where it is open.
 *
 * @example
 * const access = metricsAccess({ token: config.metricsToken, devMode: false });
 * access(request.headers.get('authorization')); // 'allowed' | 'unauthenticated' | 'disabled'
 */
export function metricsAccess(options: {
  token: string | undefined;
  devMode: boolean;
}): (authorization: string | undefined) => MetricsAccess {
  const { token, devMode } = options;
  if (token === undefined) return () => (devMode ? 'allowed' : 'disabled');
  // Compared as digests: equal lengths for timingSafeEqual, and no early exit on the first byte.
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    return match && timingSafeEqual(digest(match[1]!), expected) ? 'allowed' : 'unauthenticated';
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
