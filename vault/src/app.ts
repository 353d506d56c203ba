import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { accountsRoutes } from './accounts/accounts.routes.ts';
import { sessionCookie } from './accounts/session-cookie.ts';
import type { VaultContext } from './context.ts';
import { newId } from './crypto/ids.ts';
import type { AppEnv } from './http/app-env.ts';
import { MAX_JSON_BODY_BYTES } from './http/json-body.ts';
import { originGuard } from './http/origin-guard.ts';
import { problemBody, problemResponse, renderError } from './http/problem.ts';
import { VaultError } from './http/vault-error.ts';
import { recordsRoutes } from './records/records.routes.ts';

/**
 * The composition root of the HTTP surface: middleware and every feature's routes, built from
 * the vault's dependencies. No feature reads configuration or globals.
 *
 * @example
 * const app = buildApp(ctx); const response = await app.request('/healthz');
 */
export function buildApp(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cookie = sessionCookie(ctx.origin);

  app.use('*', async (c, next) => {
    const requestId = newId('req', ctx.random);
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    await next();
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_JSON_BODY_BYTES,
      onError: () => {
        throw new VaultError('payload_too_large');
      },
    }),
  );
  app.use('/api/*', originGuard(ctx.origin));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.route('/api/v1', accountsRoutes(ctx, cookie));
  app.route('/api/v1/records', recordsRoutes(ctx, cookie));

  app.notFound((c) =>
    problemResponse(
      problemBody('not_found', {
        requestId: c.get('requestId'),
        instance: new URL(c.req.url).pathname,
      }),
    ),
  );
  app.onError((error, c) => renderError(error, c, ctx.logger));
  return app;
}
