import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../schema.ts';
import { columnTypes } from './column-types.ts';

/** Write-back: what a grant lets a vendor deposit, and the deposited records themselves. */
export function depositsMigration(engine: Engine): Migration {
  const { bytes } = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webkeys').addColumn('grant_writes', 'text').execute();
      await db.schema
        .alterTable('grants')
        .addColumn('writes', 'text', (col) => col.notNull().defaultTo('[]'))
        .execute();
      await db.schema
        .createTable('deposits')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('grant_id', 'text', (col) => col.notNull())
        .addColumn('vendor_id', 'text', (col) => col.notNull())
        .addColumn('vendor_name', 'text', (col) => col.notNull())
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('ref', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('content', bytes, (col) => col.notNull())
        .addColumn('signed', bytes, (col) => col.notNull())
        .addColumn('status', 'text', (col) => col.notNull())
        .addColumn('received_at', 'bigint', (col) => col.notNull())
        .addColumn('decided_at', 'bigint')
        .addUniqueConstraint('deposits_version', ['customer_id', 'vendor_id', 'ref', 'version'])
        .execute();
      await db.schema
        .createIndex('deposits_customer')
        .on('deposits')
        .columns(['customer_id', 'status'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('deposits').execute();
      await db.schema.alterTable('grants').dropColumn('writes').execute();
      await db.schema.alterTable('webkeys').dropColumn('grant_writes').execute();
    },
  };
}
