import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { RandomBytes } from '../deps.ts';
import { unwrapDataKey, wrapDataKey } from './data-keys.ts';
import type { MasterKeyring } from './master-keyring.ts';

const BATCH = 500;

/**
 * Re-wraps every customer data key that is not under the keyring's current master key. Record
 * contents are untouched (they are sealed by the data keys). Each row is updated only if it
 * still names the master key it was read with, so it is safe beside a running vault, and the
 * whole run can be repeated after an interruption.
 *
 * @example
 * const { rewrapped } = await rewrapDataKeys(db, keyring, systemRandom);
 */
export async function rewrapDataKeys(
  db: Kysely<Database>,
  keyring: MasterKeyring,
  random: RandomBytes,
): Promise<{ rewrapped: number }> {
  let rewrapped = 0;
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('customers')
      .select(['id', 'data_key', 'master_key_id'])
      .where('master_key_id', '!=', keyring.current.id)
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) return { rewrapped };
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        const key = unwrapDataKey(keyring, row.id, {
          wrapped: row.data_key,
          masterKeyId: row.master_key_id,
        });
        const next = wrapDataKey(keyring, row.id, key, random);
        const result = await trx
          .updateTable('customers')
          .set({ data_key: next.wrapped, master_key_id: next.masterKeyId })
          .where('id', '=', row.id)
          .where('master_key_id', '=', row.master_key_id)
          .executeTakeFirst();
        rewrapped += Number(result.numUpdatedRows);
      }
    });
    after = rows[rows.length - 1]!.id;
  }
}

/** How many customers' data keys are wrapped by each master key id. */
export async function countByMasterKey(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('customers')
    .select(['master_key_id', (eb) => eb.fn.countAll<number>().as('count')])
    .groupBy('master_key_id')
    .execute();
  return new Map(rows.map((row) => [row.master_key_id, Number(row.count)]));
}
