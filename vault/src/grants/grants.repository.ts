import type { Db } from '../db/schema.ts';
import type { GrantsTable } from './grants.table.ts';

/** Storage of standing grants. */

/**
 * Whether any customer has (or had) a grant with this vendor: a vendor with a relationship, not
 * a stranger.
 *
 * @example
 * await hasGrants(db, 'https://dealer.example/webkey-vendor.json') // true once a grant opened
 */
export async function hasGrants(db: Db, vendorId: string): Promise<boolean> {
  const row = await db
    .selectFrom('grants')
    .select('id')
    .where('vendor_id', '=', vendorId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function findGrant(db: Db, id: string): Promise<GrantsTable | undefined> {
  return db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findGrantFor(
  db: Db,
  webkeyId: string,
  vendorId: string,
): Promise<GrantsTable | undefined> {
  return db
    .selectFrom('grants')
    .selectAll()
    .where('webkey_id', '=', webkeyId)
    .where('vendor_id', '=', vendorId)
    .executeTakeFirst();
}

export async function insertGrant(db: Db, row: GrantsTable): Promise<void> {
  await db.insertInto('grants').values(row).execute();
}

export async function listCustomerGrants(db: Db, customerId: string): Promise<GrantsTable[]> {
  return db
    .selectFrom('grants')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

export async function markGrantRead(db: Db, id: string, at: number): Promise<void> {
  await db.updateTable('grants').set({ last_read_at: at }).where('id', '=', id).execute();
}

export async function revokeGrantRow(
  db: Db,
  customerId: string,
  id: string,
  at: number,
): Promise<boolean> {
  const result = await db
    .updateTable('grants')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('customer_id', '=', customerId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
