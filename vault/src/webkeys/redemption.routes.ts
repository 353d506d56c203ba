import { redemptionRequestSchema } from '@webkey/protocol';
import { Hono } from 'hono';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import { VaultError } from '../http/vault-error.ts';
import { authenticateVendor, spendingAssertion } from '../vendors/authenticate-vendor.ts';
import { withRefusalFloor } from '../vendors/refusal-floor.ts';
import { redeemWebkey } from './redeem-webkey.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The vendor API: redemption. No cookies and no Origin check here: vendors authenticate every
 * request with a client assertion.
 */
export function redemptionRoutes(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/redeem', async (c) => {
    c.header('cache-control', 'no-store');
    const idempotencyKey = c.req.header('idempotency-key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new VaultError('invalid_request', {
        detail: 'Idempotency-Key must be 1 to 255 visible ASCII characters.',
        errors: [{ pointer: 'Idempotency-Key', message: 'invalid' }],
      });
    }
    const body = await readJson(c, redemptionRequestSchema);
    const vendor = await authenticateVendor(ctx, ctx.vendors, body.client_assertion);
    const presented = body.key !== undefined ? { key: body.key } : { code: body.code! };
    return c.json(
      await withRefusalFloor(() =>
        spendingAssertion(ctx, vendor, () =>
          redeemWebkey(ctx, ctx.signer, vendor, presented, idempotencyKey, requestMeta(c)),
        ),
      ),
    );
  });
  return app;
}
