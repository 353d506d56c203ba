import type { Kysely, Migration } from 'kysely';

/** The webhook outbox, and where each grant's vendor wants change notifications. */
export function webhooksMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('grants').addColumn('webhook_uri', 'text').execute();
      await db.schema
        .createTable('webhook_outbox')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('grant_id', 'text', (col) =>
          col.notNull().references('grants.id').onDelete('cascade'),
        )
        .addColumn('url', 'text', (col) => col.notNull())
        .addColumn('payload', 'text', (col) => col.notNull())
        .addColumn('attempts', 'integer', (col) => col.notNull())
        .addColumn('next_attempt_at', 'bigint', (col) => col.notNull())
        .addColumn('locked_until', 'bigint')
        .addColumn('delivered_at', 'bigint')
        .addColumn('dropped_at', 'bigint')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_outbox_due')
        .on('webhook_outbox')
        .column('next_attempt_at')
        .execute();
      await db.schema
        .createIndex('webhook_outbox_grant')
        .on('webhook_outbox')
        .column('grant_id')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('webhook_outbox').execute();
      await db.schema.alterTable('grants').dropColumn('webhook_uri').execute();
    },
  };
}
