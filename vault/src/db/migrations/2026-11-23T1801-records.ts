import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../schema.ts';
import { columnTypes } from './column-types.ts';

/** Records (one row per path, pointing at its latest version) and their immutable versions. */
export function recordsMigration(engine: Engine): Migration {
  const { bytes } = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('records')
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('path', 'text', (col) => col.notNull())
        .addColumn('category', 'text', (col) => col.notNull())
        .addColumn('current_version', 'integer', (col) => col.notNull())
        .addColumn('current_version_id', 'text', (col) => col.notNull())
        .addColumn('deleted', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('updated_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('records_pk', ['customer_id', 'path'])
        .execute();
      await db.schema
        .createTable('record_versions')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) => col.notNull())
        .addColumn('path', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('content', bytes)
        .addColumn('deleted', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addUniqueConstraint('record_versions_path_version', ['customer_id', 'path', 'version'])
        .addForeignKeyConstraint(
          'record_versions_record',
          ['customer_id', 'path'],
          'records',
          ['customer_id', 'path'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('record_versions').execute();
      await db.schema.dropTable('records').execute();
    },
  };
}
