import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { type AuditFacts, appendAudit } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { type AuthenticatedVendor, recordAssertion } from './authenticate-vendor.ts';

/**
 * Records, for the customer, that a vendor's request was refused, with the reason; in a
 * transaction of its own (the refused work rolled back), which also spends the vendor's
 * assertion so it cannot be replayed.
 *
 * @example
 * await auditRefusal(ctx, customerId, vendor, { event: 'key_refused', reason: 'expired', keyId, paths, purpose, meta });
 */
export async function auditRefusal(
  ctx: VaultContext,
  customerId: string,
  vendor: AuthenticatedVendor,
  facts: Omit<AuditFacts, 'vendor' | 'outcome'>,
): Promise<void> {
  await inCustomerTransaction(ctx, customerId, async (scope) => {
    await recordAssertion(scope.trx, vendor);
    await appendAudit(ctx, scope, {
      ...facts,
      vendor: { id: vendor.id, name: vendor.name },
      outcome: 'refused',
    });
  });
}
