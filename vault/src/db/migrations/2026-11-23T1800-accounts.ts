import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../schema.ts';
import { columnTypes } from './column-types.ts';

/** Customers, their passkeys, sessions, recovery codes and pending WebAuthn challenges. */
export function accountsMigration(engine: Engine): Migration {
  const { bytes } = columnTypes(engine);
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('customers')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('user_handle', 'text', (col) => col.notNull().unique())
        .addColumn('data_key', bytes, (col) => col.notNull())
        .addColumn('master_key_id', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('updated_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('passkeys')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('public_key', bytes, (col) => col.notNull())
        .addColumn('counter', 'bigint', (col) => col.notNull())
        .addColumn('transports', 'text', (col) => col.notNull())
        .addColumn('device_type', 'text', (col) => col.notNull())
        .addColumn('backed_up', 'integer', (col) => col.notNull())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('passkeys_customer')
        .on('passkeys')
        .column('customer_id')
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('sessions_customer')
        .on('sessions')
        .column('customer_id')
        .execute();
      await db.schema
        .createTable('recovery_codes')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('customer_id', 'text', (col) =>
          col.notNull().references('customers.id').onDelete('cascade'),
        )
        .addColumn('code_hash', 'text', (col) => col.notNull().unique())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('recovery_codes_customer')
        .on('recovery_codes')
        .column('customer_id')
        .execute();
      await db.schema
        .createTable('webauthn_challenges')
        .addColumn('challenge', 'text', (col) => col.primaryKey())
        .addColumn('purpose', 'text', (col) => col.notNull())
        .addColumn('customer_id', 'text', (col) =>
          col.references('customers.id').onDelete('cascade'),
        )
        .addColumn('user_handle', 'text')
        .addColumn('recovery_code_id', 'text')
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('webauthn_challenges_expiry')
        .on('webauthn_challenges')
        .column('expires_at')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'webauthn_challenges',
        'recovery_codes',
        'sessions',
        'passkeys',
        'customers',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
