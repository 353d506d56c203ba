import type { Kysely, Migration } from 'kysely';

/** Standing grants: a vendor may re-read a key's scope until the grant expires or is revoked. */
export function grantsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webkeys').addColumn('grant_days', 'integer').execute();
      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('vendor_id', 'text', (col) => col.notNull())
        .addColumn('vendor_name', 'text', (col) => col.notNull())
        .addColumn('webkey_id', 'text', (col) => col.notNull())
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('purpose', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('last_read_at', 'bigint')
        .addUniqueConstraint('grants_webkey_vendor', ['webkey_id', 'vendor_id'])
        .execute();
      await db.schema.createIndex('grants_customer').on('grants').column('customer_id').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('grants').execute();
      await db.schema.alterTable('webkeys').dropColumn('grant_days').execute();
    },
  };
}
