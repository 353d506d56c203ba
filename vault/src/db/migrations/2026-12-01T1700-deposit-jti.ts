import type { Kysely, Migration } from 'kysely';

/**
 * Deposits remember the `jti` of the vendor's signed deposit, a hash of it, and the audit entry
 * that received it, so the same signed deposit sent again (a retry after a lost answer) answers
 * the first deposit instead of storing a second version. Deposits made before have none.
 */
export function depositJtiMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('deposits').addColumn('jti', 'text').execute();
      await db.schema.alterTable('deposits').addColumn('signed_hash', 'text').execute();
      await db.schema.alterTable('deposits').addColumn('audit_entry_id', 'text').execute();
      // NULLs are distinct in a unique index on both engines: older deposits do not collide.
      await db.schema
        .createIndex('deposits_jti')
        .on('deposits')
        .columns(['vendor_id', 'jti'])
        .unique()
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('deposits_jti').execute();
      for (const column of ['audit_entry_id', 'signed_hash', 'jti']) {
        await db.schema.alterTable('deposits').dropColumn(column).execute();
      }
    },
  };
}
