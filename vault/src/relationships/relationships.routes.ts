import { Hono } from 'hono';
import { requireSession, type SessionCookie } from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { customerDataKey } from '../records/record-crypto.ts';
import { knownVendors } from './known-vendors.ts';

/** The customer's view of the vendors that know them. */
export function relationshipsRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));
  app.get('/', async (c) => {
    const customerId = c.get('customerId');
    const dataKey = await customerDataKey(ctx, ctx.db, customerId);
    c.header('cache-control', 'no-store');
    return c.json({ vendors: await knownVendors(ctx.db, customerId, dataKey) });
  });
  return app;
}
