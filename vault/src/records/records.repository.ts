import type { Kysely } from 'kysely';
import { type PreparedQuery, preparedQuery } from '../db/prepared.ts';
import type { Database, Db } from '../db/schema.ts';
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

function currentVersions(db: Kysely<Database>, customerId: string) {
  return db
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
}

/** The live (not deleted) records of a customer with their current version, optionally of one category. */
export async function listCurrentVersions(
  db: Db,
  customerId: string,
  filter: { category?: string } = {},
) {
  let query = currentVersions(db as Kysely<Database>, customerId);
  if (filter.category !== undefined) query = query.where('records.category', '=', filter.category);
  return query.execute();
}

type CurrentVersionRow = Awaited<ReturnType<typeof listCurrentVersions>>[number];

/** Prepared by the number of paths asked for (a scope names a handful): customerId, path0... */
const currentVersionsByCount = new Map<
  number,
  PreparedQuery<Record<string, string>, CurrentVersionRow>
>();

function currentVersionsOfCount(count: number) {
  let query = currentVersionsByCount.get(count);
  if (!query) {
    query = preparedQuery<Record<string, string>, CurrentVersionRow>((db, p) =>
      currentVersions(db, p.customerId!).where(
        'records.path',
        'in',
        Array.from({ length: count }, (_, i) => p[`path${i}`]!),
      ),
    );
    currentVersionsByCount.set(count, query);
  }
  return query;
}

/**
 * The current versions of just these live records of a customer (redemptions and grant reads).
 *
 * @example
 * const rows = await currentVersionsAt(trx, customerId, ['address.home', 'profile']);
 */
export async function currentVersionsAt(
  db: Db,
  customerId: string,
  paths: string[],
): Promise<CurrentVersionRow[]> {
  if (paths.length === 0) return [];
  const params: Record<string, string> = { customerId };
  paths.forEach((path, i) => {
    params[`path${i}`] = path;
  });
  return (await currentVersionsOfCount(paths.length).run(db, params)).rows;
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
