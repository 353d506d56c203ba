import type { GrantReadResponse } from '@webkey/protocol';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { VaultError } from '../http/vault-error.ts';
import { auditRefusal } from '../vendors/audit-refusal.ts';
import { type AuthenticatedVendor, recordAssertion } from '../vendors/authenticate-vendor.ts';
import { pairwiseSubject, readGrantedData } from '../webkeys/granted-data.ts';
import { findGrant, markGrantRead } from './grants.repository.ts';
import type { GrantsTable } from './grants.table.ts';

/** Why a re-read was refused, as the customer's audit log records it. */
type GrantRefusalReason = 'revoked' | 'expired' | 'not_for_this_vendor';

/** A refusal, as the customer transaction returns it (committed: the assertion stays spent). */
class GrantRefused {
  constructor(readonly reason: GrantRefusalReason) {}
}

/** One answer for every grant that allows no read: unknown, revoked, expired, another vendor's. */
function refusal(reason: string): VaultError {
  return new VaultError('grant_refused', { privateDetail: `grant refused: ${reason}` });
}

function refusalReason(
  grant: GrantsTable,
  vendorId: string,
  now: number,
): GrantRefusalReason | undefined {
  if (grant.vendor_id !== vendorId) return 'not_for_this_vendor';
  if (grant.revoked_at !== null) return 'revoked';
  if (grant.expires_at <= now) return 'expired';
  return undefined;
}

/**
 * A vendor re-reads the data a standing grant covers: the current versions, so a corrected
 * address reaches the vendor. Audited like a redemption, in the same transaction. A refused
 * read's transaction commits too, the refusal audited for the customer with its reason and the
 * vendor's assertion recorded; the vendor gets one indistinguishable refusal.
 * When anything else fails the caller spends the assertion (spendingAssertion).
 *
 * @example
 * const answer = await readGrant(ctx, vendor, 'grt_...', meta);
 */
export async function readGrant(
  ctx: VaultContext,
  vendor: AuthenticatedVendor,
  grantId: string,
  meta: RequestMeta,
): Promise<GrantReadResponse> {
  const row = await findGrant(ctx.db, grantId);
  if (!row) throw refusal('unknown grant');
  const outcome = await inCustomerTransaction(ctx, row.customer_id, async (scope) => {
    await recordAssertion(scope.trx, vendor);
    const now = ctx.clock().getTime();
    const grant = (await findGrant(scope.trx, grantId)) ?? row;
    const reason = refusalReason(grant, vendor.id, now);
    if (reason) {
      await auditRefusal(
        ctx,
        scope,
        vendor,
        {
          event: 'grant_refused',
          keyId: grant.webkey_id,
          paths: JSON.parse(grant.scope),
          purpose: grant.purpose,
          meta,
          reason,
          at: now,
        },
        // Another vendor's grant: whatever its name says stays out of the customer's log.
        { withVendorName: reason !== 'not_for_this_vendor' },
      );
      return new GrantRefused(reason);
    }
    const items: string[] = JSON.parse(grant.scope);
    // Age claims as of the day the grant opened: evaluated anew, a false answer turning true
    // between two reads would tell the vendor the customer's birthday.
    const granted = await readGrantedData(scope, vendor.id, items, new Date(grant.created_at));
    await markGrantRead(scope.trx, grant.id, now);
    const audit = await appendAudit(ctx, scope, {
      event: 'grant_read',
      vendor: { id: vendor.id, name: vendor.name },
      keyId: grant.webkey_id,
      paths: [...Object.keys(granted.fields), ...Object.keys(granted.claims)],
      purpose: grant.purpose,
      meta,
      at: now,
    });
    return {
      grantId: grant.id,
      issuer: ctx.origin,
      subject: pairwiseSubject(scope.dataKey, vendor.id),
      readAt: new Date(now).toISOString(),
      purpose: grant.purpose,
      scope: items,
      expiresAt: new Date(grant.expires_at).toISOString(),
      auditEntryId: audit.id,
      ...granted,
    };
  });
  if (outcome instanceof GrantRefused) throw refusal(outcome.reason);
  return outcome;
}
