import type { CustomerScope } from '../accounts/customer-transaction.ts';
import { type AuditFacts, appendAudit } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { countWithinBudget } from '../limits/failure-limits.ts';
import type { AuthenticatedVendor } from './authenticate-vendor.ts';

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
 * Records, for the customer, that a vendor's request was refused, with the reason, in the
 * refused work's own transaction: it returns its refusal instead of throwing it, so the
 * vendor's assertion recorded there stays spent and one commit covers both. Beyond the
 * customer's refusal budget (REFUSAL_AUDIT_LIMITS) nothing is recorded, and the caller refuses
 * the vendor as it would have: an answer of its own (a 429, say) only for refusals of this
 * customer's keys and grants would tell the vendor which of them are whose, and that its probes
 * no longer reach the customer's log.
 *
 * `withVendorName: false` names the vendor by its id's host instead of the name it publishes:
 * for a vendor with no business with this customer, whose words could say anything to them.
 *
 * @example
 * await auditRefusal(ctx, scope, vendor, { event: 'key_refused', reason: 'expired', keyId, paths, purpose, meta });
 * return new Refused('expired');
 */
export async function auditRefusal(
  ctx: VaultContext,
  scope: CustomerScope,
  vendor: AuthenticatedVendor,
  facts: Omit<AuditFacts, 'vendor' | 'outcome'>,
  { withVendorName = true }: { withVendorName?: boolean } = {},
): Promise<void> {
  const { customerId } = scope;
  // Counted for good: every refusal stays one.
  const recorded = await countWithinBudget(
    scope.trx,
    [
      [`refusal-audits:customer:${customerId}:vendor:${vendor.id}`, REFUSAL_AUDIT_LIMITS.vendor],
      [`refusal-audits:customer:${customerId}`, REFUSAL_AUDIT_LIMITS.customer],
    ],
    ctx.clock().getTime(),
  );
  if (!recorded) return;
  await appendAudit(ctx, scope, {
    ...facts,
    vendor: { id: vendor.id, name: withVendorName ? vendor.name : new URL(vendor.id).host },
    outcome: 'refused',
  });
}
