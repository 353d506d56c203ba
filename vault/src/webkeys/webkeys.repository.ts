import type { Db } from '../db/schema.ts';
import type { WebkeysTable } from './webkeys.table.ts';

/** Storage of web keys. */

export async function insertWebkey(db: Db, row: WebkeysTable): Promise<void> {
  await db.insertInto('webkeys').values(row).execute();
}

export async function findWebkey(db: Db, id: string): Promise<WebkeysTable | undefined> {
  return db.selectFrom('webkeys').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findWebkeyByShortCode(
  db: Db,
  shortCodeHash: string,
): Promise<WebkeysTable | undefined> {
  return db
    .selectFrom('webkeys')
    .selectAll()
    .where('short_code_hash', '=', shortCodeHash)
    .executeTakeFirst();
}

export async function listCustomerWebkeys(db: Db, customerId: string): Promise<WebkeysTable[]> {
  return db
    .selectFrom('webkeys')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('issued_at', 'desc')
    .orderBy('id')
    .execute();
}

/**
 * Takes one use of a key, atomically: only while it has uses left, is not revoked, has not
 * expired and (when bound) is bound to this vendor. A single conditional UPDATE, so under any
 * concurrency, on either engine, a key is used at most as often as it allows.
 */
export async function consumeWebkeyUse(
  db: Db,
  id: string,
  vendor: { id: string; name: string },
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('webkeys')
    .set((eb) => ({
      uses_left: eb('uses_left', '-', 1),
      last_redeemed_at: now,
      last_vendor_id: vendor.id,
      last_vendor_name: vendor.name,
    }))
    .where('id', '=', id)
    .where('uses_left', '>', 0)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) => eb.or([eb('audience', 'is', null), eb('audience', '=', vendor.id)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function revokeWebkeyRow(
  db: Db,
  customerId: string,
  id: string,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('webkeys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('customer_id', '=', customerId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
