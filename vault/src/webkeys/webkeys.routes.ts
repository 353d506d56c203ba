import { issueWebkeyRequestSchema } from '@webkey/protocol';
import { Hono } from 'hono';
import {
  assertRecentSignIn,
  requireSession,
  type SessionCookie,
} from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import { issueWebkey } from './issue-webkey.ts';
import { getWebkey, listWebkeys, revokeWebkey } from './manage-webkeys.ts';

/** The customer's web key endpoints: issue, list, look at one, revoke. */
export function webkeysRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));
  app.use('*', async (c, next) => {
    await next();
    c.header('cache-control', 'no-store');
  });

  app.post('/', async (c) => {
    const input = await readJson(c, issueWebkeyRequestSchema);
    // A standing grant outlives the session: it takes the passkey, not only the cookie.
    if (input.grantDays !== null) assertRecentSignIn(ctx, c.get('signedInAt'));
    return c.json(
      await issueWebkey(ctx, ctx.signer, c.get('customerId'), input, requestMeta(c), ctx.devMode),
      201,
    );
  });

  app.get('/', async (c) => {
    const all = c.req.query('all') === 'true';
    return c.json({ webkeys: await listWebkeys(ctx, c.get('customerId'), all) });
  });

  app.get('/:id', async (c) =>
    c.json(await getWebkey(ctx, c.get('customerId'), c.req.param('id'))),
  );

  app.delete('/:id', async (c) =>
    c.json(await revokeWebkey(ctx, c.get('customerId'), c.req.param('id'), requestMeta(c))),
  );

  return app;
}
