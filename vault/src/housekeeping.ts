import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';

/**
 * Deletes rows whose only purpose has passed: expired WebAuthn challenges, sessions, vendor
 * assertion ids (a replayed assertion is refused on its own expiry by then), and idempotency
 * records. Returns how many rows each table lost.
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
  return counts;
}
