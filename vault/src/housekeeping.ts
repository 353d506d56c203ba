import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { WINDOW_MS } from './limits/failure-limits.ts';

/**
 * Deletes rows whose only purpose has passed: expired WebAuthn challenges, sessions, vendor
 * assertion ids (a replayed assertion is refused on its own expiry by then), idempotency
 * records, and rate-limit windows that have closed. Returns how many rows each table lost.
 *
 * @example
 * await sweepExpired(db, Date.now());
 */
export async function sweepExpired(
  db: Kysely<Database>,
  now: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [
    'webauthn_challenges',
    'sessions',
    'assertion_jtis',
    'idempotency_records',
  ] as const) {
    const result = await db.deleteFrom(table).where('expires_at', '<=', now).executeTakeFirst();
    counts[table] = Number(result.numDeletedRows);
  }
  const windows = await db
    .deleteFrom('rate_limits')
    .where('window_start', '<', now - 2 * WINDOW_MS)
    .executeTakeFirst();
  counts.rate_limits = Number(windows.numDeletedRows);
  return counts;
}
