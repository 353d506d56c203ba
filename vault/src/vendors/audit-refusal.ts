import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { type AuditFacts, appendAudit } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { VaultError } from '../http/vault-error.ts';
import { admitAttempt } from '../limits/failure-limits.ts';
import { type AuthenticatedVendor, recordAssertion } from './authenticate-vendor.ts';

/**
 * Refusals audited per customer and minute. Every refused redemption, re-read or deposit adds an
 * entry to the customer's log, and fresh assertions cost a vendor nothing: without a budget, a
 * vendor holding a used key or a revoked grant's id (or many vendor identities) could fill a
 * customer's log and crowd out what matters in it. Successful requests are never held back.
 */
export const REFUSAL_AUDIT_LIMITS = {
  /** From one vendor, about one customer: room for a counter's retries and races. */
  vendor: 60,
  /** From every vendor together, about one customer. */
  customer: 300,
} as const;

/**
 * Records, for the customer, that a vendor's request was refused, with the reason; in a
 * transaction of its own (the refused work rolled back), which also spends the vendor's
 * assertion so it cannot be replayed. Beyond the customer's refusal budget (REFUSAL_AUDIT_LIMITS)
 * nothing is recorded, and the caller refuses the vendor as it would have: an answer of its own
 * (a 429, say) only for refusals of this customer's keys and grants would tell the vendor which
 * of them are whose, and that its probes no longer reach the customer's log.
 *
 * `withVendorName: false` names the vendor by its id's host instead of the name it publishes:
 * for a vendor with no business with this customer, whose words could say anything to them.
 *
 * @example
 * await auditRefusal(ctx, customerId, vendor, { event: 'key_refused', reason: 'expired', keyId, paths, purpose, meta });
 */
export async function auditRefusal(
  ctx: VaultContext,
  customerId: string,
  vendor: AuthenticatedVendor,
  facts: Omit<AuditFacts, 'vendor' | 'outcome'>,
  { withVendorName = true }: { withVendorName?: boolean } = {},
): Promise<void> {
  try {
    // Counted for good: every refusal stays one.
    await admitAttempt(
      ctx.db,
      [
        [`refusal-audits:customer:${customerId}:vendor:${vendor.id}`, REFUSAL_AUDIT_LIMITS.vendor],
        [`refusal-audits:customer:${customerId}`, REFUSAL_AUDIT_LIMITS.customer],
      ],
      ctx.clock().getTime(),
      'Too many refused requests.',
    );
  } catch (error) {
    // Over budget. The caller's spendingAssertion spends the assertion.
    if (error instanceof VaultError && error.code === 'rate_limited') return;
    throw error;
  }
  await inCustomerTransaction(ctx, customerId, async (scope) => {
    await recordAssertion(scope.trx, vendor);
    await appendAudit(ctx, scope, {
      ...facts,
      vendor: { id: vendor.id, name: withVendorName ? vendor.name : new URL(vendor.id).host },
      outcome: 'refused',
    });
  });
}
