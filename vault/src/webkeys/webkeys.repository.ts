import { preparedQuery } from '../db/prepared.ts';
import type { Db } from '../db/schema.ts';
import type { WebkeysTable } from './webkeys.table.ts';

/** Storage of web keys. */

export async function insertWebkey(db: Db, row: WebkeysTable): Promise<void> {
  await db.insertInto('webkeys').values(row).execute();
}

const webkeyById = preparedQuery<{ id: string }, WebkeysTable>((db, p) =>
  db.selectFrom('webkeys').selectAll().where('id', '=', p.id),
);

export async function findWebkey(db: Db, id: string): Promise<WebkeysTable | undefined> {
  return (await webkeyById.run(db, { id })).rows[0];
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

const takeUse = preparedQuery<
  { id: string; now: number; vendorId: string; vendorName: string },
  WebkeysTable
>((db, p) =>
  db
    .updateTable('webkeys')
    .set((eb) => ({
      uses_left: eb('uses_left', '-', 1),
      last_redeemed_at: p.now,
      last_vendor_id: p.vendorId,
      last_vendor_name: p.vendorName,
    }))
    .where('id', '=', p.id)
    .where('uses_left', '>', 0)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', p.now)
    .where((eb) => eb.or([eb('audience', 'is', null), eb('audience', '=', p.vendorId)]))
    .returningAll(),
);

/**
 * Takes one use of a key, atomically: only while it has uses left, is not revoked, has not
 * expired and (when bound) is bound to this vendor. A single conditional UPDATE, so under any
 * concurrency, on either engine, a key is used at most as often as it allows. Returns the key
 * as it is after the use, or undefined when no use could be taken.
 */
export async function consumeWebkeyUse(
  db: Db,
  id: string,
  vendor: { id: string; name: string },
  now: number,
): Promise<WebkeysTable | undefined> {
  const result = await takeUse.run(db, {
    id,
    now,
    vendorId: vendor.id,
    vendorName: vendor.name,
  });
  return result.rows[0];
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
