import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { RandomBytes } from '../deps.ts';
import { openPrivateJwk, sealPrivateJwk } from '../signing/signing-keys.ts';
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

/**
 * Re-seals the vault's private signing keys under the current master key, each only if
 * unchanged meanwhile.
 */
export async function resealSigningKeys(
  db: Kysely<Database>,
  keyring: MasterKeyring,
  random: RandomBytes,
): Promise<{ resealed: number }> {
  const rows = await db
    .selectFrom('signing_keys')
    .select(['kid', 'private_key', 'master_key_id'])
    .where('master_key_id', '!=', keyring.current.id)
    .execute();
  let resealed = 0;
  for (const row of rows) {
    const next = sealPrivateJwk(keyring, row.kid, openPrivateJwk(keyring, row), random);
    const result = await db
      .updateTable('signing_keys')
      .set(next)
      .where('kid', '=', row.kid)
      .where('master_key_id', '=', row.master_key_id)
      .executeTakeFirst();
    resealed += Number(result.numUpdatedRows);
  }
  return { resealed };
}

/** Re-wraps everything the master key protects: customer data keys and signing keys. */
export async function rewrapAll(
  db: Kysely<Database>,
  keyring: MasterKeyring,
  random: RandomBytes,
): Promise<{ dataKeys: number; signingKeys: number }> {
  const { rewrapped } = await rewrapDataKeys(db, keyring, random);
  const { resealed } = await resealSigningKeys(db, keyring, random);
  return { dataKeys: rewrapped, signingKeys: resealed };
}

/** How many stored secrets (data keys and signing keys) each master key id protects. */
export async function countByMasterKey(db: Kysely<Database>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of ['customers', 'signing_keys'] as const) {
    const rows = await db
      .selectFrom(table)
      .select(['master_key_id', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('master_key_id')
      .execute();
    for (const row of rows)
      counts.set(row.master_key_id, (counts.get(row.master_key_id) ?? 0) + Number(row.count));
  }
  return counts;
}
