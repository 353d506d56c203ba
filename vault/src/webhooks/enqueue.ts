import { isAgeAtLeast, parseScopeItem, type WebhookEvent } from '@webkey/protocol';
import type { CustomerScope } from '../accounts/customer-transaction.ts';
import type { VaultContext } from '../context.ts';
import { newId } from '../crypto/ids.ts';
import type { WebhookOutboxTable } from './webhooks.table.ts';

/** A record's contents before and after a change (null: it did not exist, or was deleted). */
export interface RecordChange {
  path: string;
  before: unknown;
  after: unknown;
}

/** An age claim's answer (undefined without a birth date), as a grant opened `on` computes it. */
function ageAnswer(profile: unknown, years: number, on: Date): boolean | undefined {
  const birthDate = (profile as { birthDate?: string } | null)?.birthDate;
  return birthDate ? isAgeAtLeast(birthDate, years, on) : undefined;
}

/**
 * The scope items a change affects: the path itself, and an age claim only when its answer
 * changed (grants answer age claims as of the day they opened; a notice on every profile edit
 * would tell the vendor of changes to data it was never granted).
 */
function affected(scope: string[], change: RecordChange, grantOpenedAt: number): string[] {
  return scope.filter((item) => {
    const parsed = parseScopeItem(item);
    if (!parsed) return false;
    if (parsed.kind === 'path') return parsed.path === change.path;
    if (change.path !== 'profile') return false;
    const on = new Date(grantOpenedAt);
    return ageAnswer(change.before, parsed.years, on) !== ageAnswer(change.after, parsed.years, on);
  });
}

/** A notification waiting for its first attempt, due at once. */
export function outboxRow(
  event: { id: string; grantId: string; url: string; payload: string },
  now: number,
): WebhookOutboxTable {
  return {
    id: event.id,
    grant_id: event.grantId,
    url: event.url,
    payload: event.payload,
    attempts: 0,
    next_attempt_at: now,
    locked_until: null,
    delivered_at: null,
    dropped_at: null,
    last_status: null,
    last_error: null,
    created_at: now,
  };
}

/**
 * Queues a change notification for every live standing grant whose scope the change touches and
 * whose vendor asked for notifications, in the transaction that makes the change: no change is
 * committed without its notifications, none is queued for a change that rolled back.
 */
export async function enqueueChangeNotifications(
  ctx: VaultContext,
  scope: CustomerScope,
  change: RecordChange,
): Promise<number> {
  const now = ctx.clock().getTime();
  const grants = await scope.trx
    .selectFrom('grants')
    .select(['id', 'vendor_id', 'scope', 'webhook_uri', 'created_at'])
    .where('customer_id', '=', scope.customerId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where('webhook_uri', 'is not', null)
    .execute();
  let queued = 0;
  for (const grant of grants) {
    const paths = affected(JSON.parse(grant.scope), change, grant.created_at);
    if (paths.length === 0) continue;
    const event: WebhookEvent = {
      id: newId('evt', ctx.random),
      type: 'grant.data_changed',
      issuer: ctx.origin,
      grantId: grant.id,
      paths,
      occurredAt: new Date(now).toISOString(),
      vendor: grant.vendor_id,
    };
    await scope.trx
      .insertInto('webhook_outbox')
      .values(
        outboxRow(
          {
            id: event.id,
            grantId: grant.id,
            url: grant.webhook_uri!,
            payload: JSON.stringify(event),
          },
          now,
        ),
      )
      .execute();
    queued += 1;
  }
  return queued;
}
