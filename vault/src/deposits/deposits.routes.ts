import { depositRequestSchema } from '@webkey/protocol';
import { Hono } from 'hono';
import { requireSession, type SessionCookie } from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import { authenticateVendor, spendingAssertion } from '../vendors/authenticate-vendor.ts';
import { withRefusalFloor } from '../vendors/refusal-floor.ts';
import { depositRecord } from './deposit-record.ts';
import { decideDeposit, listDeposits } from './manage-deposits.ts';

/** The customer's inbox of deposited records, and their accepted documents. */
export function customerDepositsRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));
  app.use('*', async (c, next) => {
    await next();
    c.header('cache-control', 'no-store');
  });
  app.get('/inbox', async (c) =>
    c.json({ deposits: await listDeposits(ctx, c.get('customerId'), 'pending') }),
  );
  app.get('/documents', async (c) =>
    c.json({ deposits: await listDeposits(ctx, c.get('customerId'), 'accepted') }),
  );
  app.post('/inbox/:id/accept', async (c) =>
    c.json(
      await decideDeposit(ctx, c.get('customerId'), c.req.param('id'), 'accepted', requestMeta(c)),
    ),
  );
  app.post('/inbox/:id/discard', async (c) =>
    c.json(
      await decideDeposit(ctx, c.get('customerId'), c.req.param('id'), 'discarded', requestMeta(c)),
    ),
  );
  return app;
}

/** The vendor's deposit endpoint, authenticated like redemption; the record is signed too. */
export function vendorDepositsRoutes(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/deposit', async (c) => {
    c.header('cache-control', 'no-store');
    const body = await readJson(c, depositRequestSchema);
    const vendor = await authenticateVendor(ctx, ctx.vendors, body.client_assertion);
    return c.json(
      await withRefusalFloor(() =>
        spendingAssertion(ctx, vendor, () =>
          depositRecord(ctx, vendor, body.deposit, requestMeta(c)),
        ),
      ),
      201,
    );
  });
  return app;
}
