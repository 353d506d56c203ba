import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../schema.ts';
import { columnTypes } from './column-types.ts';

/** Vault signing keys, web keys, vendor assertion replay cache, idempotency records, audit log. */
export function federationMigration(engine: Engine): Migration {
  const { bytes } = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (col) => col.primaryKey())
        .addColumn('public_jwk', 'text', (col) => col.notNull())
        .addColumn('private_key', bytes, (col) => col.notNull())
        .addColumn('master_key_id', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('verify_until', 'bigint')
        .execute();
      await db.schema
        .createTable('webkeys')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('kid', 'text', (col) => col.notNull())
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('purpose', 'text', (col) => col.notNull())
        .addColumn('audience', 'text')
        .addColumn('short_code_hash', 'text', (col) => col.notNull().unique())
        .addColumn('issued_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('uses_total', 'integer', (col) => col.notNull())
        .addColumn('uses_left', 'integer', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('last_redeemed_at', 'bigint')
        .addColumn('last_vendor_id', 'text')
        .addColumn('last_vendor_name', 'text')
        .execute();
      await db.schema
        .createIndex('webkeys_customer')
        .on('webkeys')
        .columns(['customer_id', 'expires_at'])
        .execute();
      await db.schema
        .createTable('assertion_jtis')
        .addColumn('vendor_id', 'text', (col) => col.notNull())
        .addColumn('jti', 'text', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('assertion_jtis_pk', ['vendor_id', 'jti'])
        .execute();
      await db.schema
        .createIndex('assertion_jtis_expiry')
        .on('assertion_jtis')
        .column('expires_at')
        .execute();
      await db.schema
        .createTable('idempotency_records')
        .addColumn('vendor_id', 'text', (col) => col.notNull())
        .addColumn('idempotency_key', 'text', (col) => col.notNull())
        .addColumn('request_hash', 'text', (col) => col.notNull())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('response', bytes, (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('idempotency_records_pk', ['vendor_id', 'idempotency_key'])
        .execute();
      await db.schema
        .createTable('audit_entries')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('seq', 'integer', (col) => col.notNull())
        .addColumn('at', 'bigint', (col) => col.notNull())
        .addColumn('event', 'text', (col) => col.notNull())
        .addColumn('vendor_id', 'text')
        .addColumn('hash', 'text', (col) => col.notNull())
        .addColumn('body', bytes, (col) => col.notNull())
        .addUniqueConstraint('audit_entries_seq', ['customer_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('audit_entries_vendor')
        .on('audit_entries')
        .columns(['customer_id', 'vendor_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'audit_entries',
        'idempotency_records',
        'assertion_jtis',
        'webkeys',
        'signing_keys',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
