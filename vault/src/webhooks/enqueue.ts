import { parseScopeItem, type WebhookEvent } from '@webkey/protocol';
import type { CustomerScope } from '../accounts/customer-transaction.ts';
import type { VaultContext } from '../context.ts';
import { newId } from '../crypto/ids.ts';

/** The scope items a change at `path` can affect: the path itself, and age claims for the profile. */
function affected(scope: string[], path: string): string[] {
  return scope.filter((item) => {
    const parsed = parseScopeItem(item);
    if (!parsed) return false;
    return parsed.kind === 'path' ? parsed.path === path : path === 'profile';
  });
}

/**
 * Queues a change notification for every live standing grant whose scope the change touches and
 * whose vendor asked for notifications, in the transaction that makes the change: no change is
 * committed without its notifications, none is queued for a change that rolled back.
 */
export async function enqueueChangeNotifications(
  ctx: VaultContext,
  scope: CustomerScope,
  path: string,
): Promise<number> {
  const now = ctx.clock().getTime();
  const grants = await scope.trx
    .selectFrom('grants')
    .select(['id', 'scope', 'webhook_uri'])
    .where('customer_id', '=', scope.customerId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where('webhook_uri', 'is not', null)
    .execute();
  let queued = 0;
  for (const grant of grants) {
    const paths = affected(JSON.parse(grant.scope), path);
    if (paths.length === 0) continue;
    const event: WebhookEvent = {
      id: newId('evt', ctx.random),
      type: 'grant.data_changed',
      issuer: ctx.origin,
      grantId: grant.id,
      paths,
      occurredAt: new Date(now).toISOString(),
    };
    await scope.trx
      .insertInto('webhook_outbox')
      .values({
        id: event.id,
        grant_id: grant.id,
        url: grant.webhook_uri!,
        payload: JSON.stringify(event),
        attempts: 0,
        next_attempt_at: now,
        locked_until: null,
        delivered_at: null,
        dropped_at: null,
        last_status: null,
        last_error: null,
        created_at: now,
      })
      .execute();
    queued += 1;
  }
  return queued;
}
