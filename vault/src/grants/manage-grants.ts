import type { GrantSummary } from '@webkey/protocol';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { VaultError } from '../http/vault-error.ts';
import { summarizeGrant } from './grant-summary.ts';
import { findGrant, listCustomerGrants, revokeGrantRow } from './grants.repository.ts';

/** The customer's standing grants, newest first: only those still allowing reads unless `all`. */
export async function listGrants(
  ctx: VaultContext,
  customerId: string,
  all: boolean,
): Promise<GrantSummary[]> {
  const now = ctx.clock().getTime();
  const rows = await listCustomerGrants(ctx.db, customerId);
  const stats = await deliveryStats(
    ctx,
    rows.map((row) => row.id),
  );
  const grants = rows.map((row) => ({
    ...summarizeGrant(row, now),
    deliveries: stats.get(row.id) ?? {
      delivered: 0,
      pending: 0,
      dropped: 0,
      lastDeliveredAt: null,
    },
  }));
  return all ? grants : grants.filter((grant) => grant.status === 'active');
}

/** Per grant: notifications delivered, waiting (queued or retrying), given up, and the last delivery. */
async function deliveryStats(ctx: VaultContext, grantIds: string[]) {
  if (grantIds.length === 0) return new Map<string, never>();
  const rows = await ctx.db
    .selectFrom('webhook_outbox')
    .select((eb) => [
      'grant_id',
      eb.fn.count<number>('delivered_at').as('delivered'),
      eb.fn.count<number>('dropped_at').as('dropped'),
      eb.fn.countAll<number>().as('total'),
      eb.fn.max('delivered_at').as('last'),
    ])
    .where('grant_id', 'in', grantIds)
    .groupBy('grant_id')
    .execute();
  return new Map(
    rows.map((row) => [
      row.grant_id,
      {
        delivered: Number(row.delivered),
        dropped: Number(row.dropped),
        pending: Number(row.total) - Number(row.delivered) - Number(row.dropped),
        lastDeliveredAt: row.last === null ? null : new Date(Number(row.last)).toISOString(),
      },
    ]),
  );
}

/** Revokes a grant at once: the vendor's next read is refused. Revoking twice changes nothing. */
export async function revokeGrant(
  ctx: VaultContext,
  customerId: string,
  id: string,
  meta: RequestMeta,
): Promise<GrantSummary> {
  return inCustomerTransaction(ctx, customerId, async (scope) => {
    const row = await findGrant(scope.trx, id);
    if (!row || row.customer_id !== customerId)
      throw new VaultError('not_found', { detail: 'You have no grant with this id.' });
    const now = ctx.clock().getTime();
    if (!(await revokeGrantRow(scope.trx, customerId, id, now))) return summarizeGrant(row, now);
    // Queued notifications stop at once too.
    await scope.trx
      .updateTable('webhook_outbox')
      .set({ dropped_at: now })
      .where('grant_id', '=', id)
      .where('delivered_at', 'is', null)
      .where('dropped_at', 'is', null)
      .execute();
    await appendAudit(ctx, scope, {
      event: 'grant_revoked',
      vendor: { id: row.vendor_id, name: row.vendor_name },
      keyId: row.webkey_id,
      paths: JSON.parse(row.scope),
      purpose: row.purpose,
      meta,
    });
    return summarizeGrant({ ...row, revoked_at: now }, now);
  });
}
