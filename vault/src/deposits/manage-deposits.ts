import type { DepositSummary } from '@webkey/protocol';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { DecryptionError, open } from '../crypto/aead.ts';
import { VaultError } from '../http/vault-error.ts';
import { customerDataKey } from '../records/record-crypto.ts';
import { depositSealContext, legacyDepositSealContext } from './deposit-record.ts';
import type { DepositsTable } from './deposits.table.ts';

/**
 * A deposit's content, opened under the context that binds it to its columns; deposits sealed
 * before that (2026-12-03) open under their old context. No fallback weakens the binding: what
 * was sealed under the new context opens under no other.
 */
function openContent(row: DepositsTable, dataKey: Uint8Array): Uint8Array {
  try {
    return open(dataKey, row.content, depositSealContext('content', row));
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    return open(dataKey, row.content, legacyDepositSealContext('content', row.customer_id, row.id));
  }
}

function summarize(row: DepositsTable, dataKey: Uint8Array): DepositSummary {
  const content = JSON.parse(Buffer.from(openContent(row, dataKey)).toString('utf8'));
  return {
    id: row.id,
    vendor: { id: row.vendor_id, name: row.vendor_name },
    grantId: row.grant_id,
    kind: row.kind,
    ref: row.ref,
    version: row.version,
    content,
    status: row.status,
    receivedAt: new Date(row.received_at).toISOString(),
    decidedAt: row.decided_at === null ? null : new Date(row.decided_at).toISOString(),
  };
}

/** Deposits in one state, newest first: the inbox (pending) or the customer's documents (accepted). */
export async function listDeposits(
  ctx: VaultContext,
  customerId: string,
  status: DepositsTable['status'],
): Promise<DepositSummary[]> {
  const rows = await ctx.db
    .selectFrom('deposits')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('status', '=', status)
    .orderBy('received_at', 'desc')
    .orderBy('id')
    .execute();
  if (rows.length === 0) return [];
  const dataKey = await customerDataKey(ctx, ctx.db, customerId);
  return rows.map((row) => summarize(row, dataKey));
}

/**
 * The customer decides on a pending deposit: accept it into their documents, or discard it. Only
 * pending deposits can be decided; the decision is audited.
 */
export async function decideDeposit(
  ctx: VaultContext,
  customerId: string,
  id: string,
  decision: 'accepted' | 'discarded',
  meta: RequestMeta,
): Promise<DepositSummary> {
  return inCustomerTransaction(ctx, customerId, async (scope) => {
    const row = await scope.trx
      .selectFrom('deposits')
      .selectAll()
      .where('id', '=', id)
      .where('customer_id', '=', customerId)
      .executeTakeFirst();
    if (!row) throw new VaultError('not_found', { detail: 'Your inbox has no such record.' });
    if (row.status !== 'pending') {
      throw new VaultError('conflict', { detail: `This record was already ${row.status}.` });
    }
    const now = ctx.clock().getTime();
    await scope.trx
      .updateTable('deposits')
      .set({ status: decision, decided_at: now })
      .where('id', '=', id)
      .execute();
    const decided = { ...row, status: decision, decided_at: now };
    const summary = summarize(decided, scope.dataKey);
    await appendAudit(ctx, scope, {
      event: decision === 'accepted' ? 'deposit_accepted' : 'deposit_discarded',
      vendor: summary.vendor,
      paths: [`${row.kind}:${row.ref}`],
      purpose: (summary.content as { title?: string }).title ?? null,
      meta,
    });
    return summary;
  });
}
