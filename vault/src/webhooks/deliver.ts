import { WEBHOOK_SIGNATURE_VERSION } from '@webkey/protocol';
import type { VaultContext } from '../context.ts';
import type { Poster } from '../vendors/safe-fetch.ts';
import type { WebhookOutboxTable } from './webhooks.table.ts';

/** Attempts before a notification is given up. With the backoff below: about a day. */
export const MAX_ATTEMPTS = 12;
/**
 * How long a process holds a notification it is delivering before another may take it: longer
 * than a batch can take (BATCH / PER_HOST rounds of a 5 s timeout), so no other process sends it
 * again meanwhile.
 */
const LEASE_MS = 60_000;
const BATCH = 20;

/** Capped exponential backoff with full jitter: 5 s, 10 s, 20 s ... up to an hour. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const ceiling = Math.min(5000 * 2 ** Math.max(attempts - 1, 0), 3_600_000);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The headers of one delivery attempt: Standard Webhooks' id and timestamp, the vault's signature. */
export async function signedHeaders(
  ctx: VaultContext,
  event: { id: string; payload: string },
  now: number,
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(now / 1000));
  const signed = new TextEncoder().encode(`${event.id}.${timestamp}.${event.payload}`);
  const { kid, signature } = await ctx.signer.signBytes(signed);
  return {
    'content-type': 'application/json',
    'webhook-id': event.id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `${WEBHOOK_SIGNATURE_VERSION},${Buffer.from(signature).toString('base64')}`,
    'webhook-key-id': kid,
    'webhook-issuer': ctx.origin,
  };
}

/** Takes up to a batch of due notifications for this process (a conditional lease, safe across processes). */
async function claimDue(ctx: VaultContext, now: number): Promise<WebhookOutboxTable[]> {
  const due = await ctx.db
    .selectFrom('webhook_outbox')
    .selectAll()
    .where('delivered_at', 'is', null)
    .where('dropped_at', 'is', null)
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(BATCH)
    .execute();
  const claimed: WebhookOutboxTable[] = [];
  const lease = now + LEASE_MS;
  for (const row of due) {
    const taken = await ctx.db
      .updateTable('webhook_outbox')
      .set({ locked_until: lease })
      .where('id', '=', row.id)
      .where('delivered_at', 'is', null)
      .where('dropped_at', 'is', null)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
      .executeTakeFirst();
    if (taken.numUpdatedRows === 1n) claimed.push({ ...row, locked_until: lease });
  }
  return claimed;
}

/** Attempts at once to one host: one slow vendor endpoint must not hold up the others. */
const PER_HOST = 4;

/**
 * Delivers the notifications that are due: at least once (a vendor drops duplicates by
 * `webhook-id`), with retries and backoff, never for a grant that was revoked or has expired
 * (checked at every attempt, so revoking stops queued deliveries too). Every attempt goes
 * through the SSRF-guarded poster. The batch is delivered in parallel, at most PER_HOST at once
 * to one host, so it ends (BATCH / PER_HOST rounds of at most the poster's 5 s timeout) well
 * within the lease; each attempt is signed with the time it is sent. Returns how many were
 * delivered.
 */
export async function deliverDue(ctx: VaultContext, post: Poster): Promise<number> {
  const claimed = await claimDue(ctx, ctx.clock().getTime());
  const byHost = new Map<string, WebhookOutboxTable[]>();
  for (const row of claimed) {
    const host = hostOf(row.url);
    byHost.set(host, [...(byHost.get(host) ?? []), row]);
  }
  let delivered = 0;
  const lane = async (rows: WebhookOutboxTable[]) => {
    for (let row = rows.shift(); row; row = rows.shift())
      if (await deliverOne(ctx, post, row)) delivered += 1;
  };
  const lanes = [...byHost.values()].flatMap((rows) =>
    Array.from({ length: Math.min(PER_HOST, rows.length) }, () => lane(rows)),
  );
  // Every lane ends before the round does (the vault waits for the round when it closes); a
  // lane that failed (the database, say) leaves its rows to be taken again after the lease.
  const failed = (await Promise.allSettled(lanes)).find((lane) => lane.status === 'rejected');
  if (failed) throw failed.reason;
  return delivered;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Records what became of an attempt, unless this process's lease on the row has passed and
 * another took it over (and perhaps delivered it): a stalled process must not overwrite that.
 */
function updateLeased(ctx: VaultContext, row: WebhookOutboxTable) {
  return ctx.db
    .updateTable('webhook_outbox')
    .where('id', '=', row.id)
    .where('locked_until', '=', row.locked_until)
    .where('delivered_at', 'is', null);
}

/** One attempt at one notification; true when it was delivered. */
async function deliverOne(
  ctx: VaultContext,
  post: Poster,
  row: WebhookOutboxTable,
): Promise<boolean> {
  const now = ctx.clock().getTime();
  const grant = await ctx.db
    .selectFrom('grants')
    .select(['revoked_at', 'expires_at'])
    .where('id', '=', row.grant_id)
    .executeTakeFirst();
  if (!grant || grant.revoked_at !== null || grant.expires_at <= now) {
    await updateLeased(ctx, row).set({ dropped_at: now, locked_until: null }).execute();
    return false;
  }
  let status: number | null = null;
  let error: string | null = null;
  try {
    const sentAt = ctx.clock().getTime();
    ({ status } = await post(row.url, {
      headers: await signedHeaders(ctx, { id: row.id, payload: row.payload }, sentAt),
      body: row.payload,
    }));
  } catch (cause) {
    error = (cause as Error).message.slice(0, 300);
  }
  const done = ctx.clock().getTime();
  const attempts = row.attempts + 1;
  if (status !== null && status >= 200 && status < 300) {
    await updateLeased(ctx, row)
      .set({
        delivered_at: done,
        attempts,
        last_status: status,
        last_error: null,
        locked_until: null,
      })
      .execute();
    return true;
  }
  await updateLeased(ctx, row)
    .set({
      attempts,
      last_status: status,
      last_error: error,
      locked_until: null,
      next_attempt_at: done + retryDelayMs(attempts),
      ...(attempts >= MAX_ATTEMPTS ? { dropped_at: done } : {}),
    })
    .execute();
  ctx.logger.warn('webhook_attempt_failed', { event: row.id, attempts, status, error });
  return false;
}
