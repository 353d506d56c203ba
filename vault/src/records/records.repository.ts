import type { Db } from '../db/schema.ts';
import type { RecordsTable, RecordVersionsTable } from './records.table.ts';

/** Storage of records and their versions. Versions are only ever inserted. */

export async function findRecord(
  db: Db,
  customerId: string,
  path: string,
): Promise<RecordsTable | undefined> {
  return db
    .selectFrom('records')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('path', '=', path)
    .executeTakeFirst();
}

export async function insertRecord(db: Db, row: RecordsTable): Promise<void> {
  await db.insertInto('records').values(row).execute();
}

/**
 * Moves a record to its next version only if it is still at `expectedVersion` (optimistic
 * concurrency without locks, identical on both engines). Returns false if someone else won.
 */
export async function advanceRecord(
  db: Db,
  customerId: string,
  path: string,
  expectedVersion: number,
  next: { versionId: string; deleted: boolean; at: number },
): Promise<boolean> {
  const result = await db
    .updateTable('records')
    .set({
      current_version: expectedVersion + 1,
      current_version_id: next.versionId,
      deleted: next.deleted ? 1 : 0,
      updated_at: next.at,
    })
    .where('customer_id', '=', customerId)
    .where('path', '=', path)
    .where('current_version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function insertVersion(db: Db, row: RecordVersionsTable): Promise<void> {
  await db.insertInto('record_versions').values(row).execute();
}

/**
 * The live (not deleted) records of a customer with their current version, optionally only of
 * one category or only the given paths.
 */
export async function listCurrentVersions(
  db: Db,
  customerId: string,
  filter: { category?: string; paths?: string[] } = {},
) {
  let query = db
    .selectFrom('records')
    .innerJoin('record_versions', 'record_versions.id', 'records.current_version_id')
    .select([
      'records.path',
      'records.category',
      'record_versions.id',
      'record_versions.version',
      'record_versions.content',
      'record_versions.deleted',
      'record_versions.created_at',
    ])
    .where('records.customer_id', '=', customerId)
    .where('records.deleted', '=', 0);
  if (filter.category !== undefined) query = query.where('records.category', '=', filter.category);
  if (filter.paths !== undefined) query = query.where('records.path', 'in', filter.paths);
  return query.execute();
}

export async function listVersions(
  db: Db,
  customerId: string,
  path: string,
): Promise<RecordVersionsTable[]> {
  return db
    .selectFrom('record_versions')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('path', '=', path)
    .orderBy('version', 'desc')
    .execute();
}

export async function findVersion(
  db: Db,
  customerId: string,
  path: string,
  version: number,
): Promise<RecordVersionsTable | undefined> {
  return db
    .selectFrom('record_versions')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('path', '=', path)
    .where('version', '=', version)
    .executeTakeFirst();
}
