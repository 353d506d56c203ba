import { grantReadRequestSchema } from '@webkey/protocol';
import { Hono } from 'hono';
import { requireSession, type SessionCookie } from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import { authenticateVendor, spendingAssertion } from '../vendors/authenticate-vendor.ts';
import { withRefusalFloor } from '../vendors/refusal-floor.ts';
import { listGrants, revokeGrant } from './manage-grants.ts';
import { readGrant } from './read-grant.ts';

/** The customer's grants: list and revoke. */
export function customerGrantsRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));
  app.use('*', async (c, next) => {
    await next();
    c.header('cache-control', 'no-store');
  });
  app.get('/', async (c) =>
    c.json({ grants: await listGrants(ctx, c.get('customerId'), c.req.query('all') === 'true') }),
  );
  app.delete('/:id', async (c) =>
    c.json(await revokeGrant(ctx, c.get('customerId'), c.req.param('id'), requestMeta(c))),
  );
  return app;
}

/** The vendor's re-read under a standing grant, authenticated like redemption. */
export function vendorGrantsRoutes(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/read', async (c) => {
    c.header('cache-control', 'no-store');
    const body = await readJson(c, grantReadRequestSchema);
    const vendor = await authenticateVendor(ctx, ctx.vendors, body.client_assertion);
    return c.json(
      await withRefusalFloor(() =>
        spendingAssertion(ctx, vendor, () => readGrant(ctx, vendor, body.grant, requestMeta(c))),
      ),
    );
  });
  return app;
}
