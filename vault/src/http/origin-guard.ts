import type { MiddlewareHandler } from 'hono';
import { VaultError } from './vault-error.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses state-changing requests whose Origin is not the vault's own: the defence against
 * cross-site request forgery on cookie-authenticated routes (OWASP CSRF cheat sheet, "Verifying
 * Origin with standard headers"). A missing Origin is refused too: browsers send it on every
 * POST, PUT, PATCH and DELETE.
 *
 * @example
 * app.use('/api/*', originGuard('https://vault.example'));
 */
export function originGuard(origin: string): MiddlewareHandler {
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && c.req.header('origin') !== origin) {
      throw new VaultError('forbidden_origin');
    }
    await next();
  };
}
