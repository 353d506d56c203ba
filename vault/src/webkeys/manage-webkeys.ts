import type { WebkeySummary } from '@webkey/protocol';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { VaultError } from '../http/vault-error.ts';
import { summarizeWebkey } from './webkey-summary.ts';
import { findWebkey, listCustomerWebkeys, revokeWebkeyRow } from './webkeys.repository.ts';

/** The customer's keys, newest first: only those still redeemable unless `all`. */
export async function listWebkeys(
  ctx: VaultContext,
  customerId: string,
  all: boolean,
): Promise<WebkeySummary[]> {
  const now = ctx.clock().getTime();
  const summaries = (await listCustomerWebkeys(ctx.db, customerId)).map((row) =>
    summarizeWebkey(row, now),
  );
  return all ? summaries : summaries.filter((key) => key.status === 'active');
}

/** One of the customer's keys (the counter screen polls it to show "Read by ..."). */
export async function getWebkey(
  ctx: VaultContext,
  customerId: string,
  id: string,
): Promise<WebkeySummary> {
  const row = await findWebkey(ctx.db, id);
  if (!row || row.customer_id !== customerId)
    throw new VaultError('not_found', { detail: 'You have no key with this id.' });
  return summarizeWebkey(row, ctx.clock().getTime());
}

/**
 * Revokes one of the customer's keys at once: every later redemption is refused. Revoking a key
 * that is already revoked changes nothing and is not audited again.
 */
export async function revokeWebkey(
  ctx: VaultContext,
  customerId: string,
  id: string,
  meta: RequestMeta,
): Promise<WebkeySummary> {
  return inCustomerTransaction(ctx, customerId, async (scope) => {
    const row = await findWebkey(scope.trx, id);
    if (!row || row.customer_id !== customerId)
      throw new VaultError('not_found', { detail: 'You have no key with this id.' });
    const now = ctx.clock().getTime();
    if (await revokeWebkeyRow(scope.trx, customerId, id, now)) {
      await appendAudit(ctx, scope, {
        event: 'key_revoked',
        keyId: id,
        paths: JSON.parse(row.scope),
        purpose: row.purpose,
        meta,
      });
      return summarizeWebkey({ ...row, revoked_at: now }, now);
    }
    return summarizeWebkey(row, now);
  });
}
