import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { accountsMigration } from './migrations/2026-11-23T1800-accounts.ts';
import { recordsMigration } from './migrations/2026-11-23T1801-records.ts';
import { federationMigration } from './migrations/2026-11-23T1900-federation.ts';
import { rateLimitsMigration } from './migrations/2026-11-23T2000-rate-limits.ts';
import { grantsMigration } from './migrations/2026-11-23T2100-grants.ts';
import { webhooksMigration } from './migrations/2026-11-23T2200-webhooks.ts';
import { depositsMigration } from './migrations/2026-11-23T2300-deposits.ts';
import { webkeyTokenHashMigration } from './migrations/2026-12-01T1000-webkey-token-hash.ts';
import { depositJtiMigration } from './migrations/2026-12-01T1700-deposit-jti.ts';
import { grantsVendorMigration } from './migrations/2026-12-03T1000-grants-vendor.ts';
import type { Database, Engine } from './schema.ts';

/** Every migration, by timestamped name; names sort in the order they must run. */
function migrations(engine: Engine): Record<string, Migration> {
  return {
    '2026-11-23T1800-accounts': accountsMigration(engine),
    '2026-11-23T1801-records': recordsMigration(engine),
    '2026-11-23T1900-federation': federationMigration(engine),
    '2026-11-23T2000-rate-limits': rateLimitsMigration(),
    '2026-11-23T2100-grants': grantsMigration(),
    '2026-11-23T2200-webhooks': webhooksMigration(),
    '2026-11-23T2300-deposits': depositsMigration(engine),
    '2026-12-01T1000-webkey-token-hash': webkeyTokenHashMigration(),
    '2026-12-01T1700-deposit-jti': depositJtiMigration(),
    '2026-12-03T1000-grants-vendor': grantsVendorMigration(),
  };
}

/** The names of every migration this version knows, in order. */
export function migrationNames(): string[] {
  return Object.keys(migrations('sqlite'));
}

/**
 * Brings the database schema up to date. Safe to run from several processes at once: Kysely
 * takes a lock (an advisory lock on Postgres) around the run.
 *
 * @example
 * await migrateToLatest(db, 'sqlite');
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  engine: Engine,
): Promise<MigrationResultSet> {
  // Kysely looks for its own tables in every schema unless told which: name the one in use, or
  // another application's (or test run's) tables in the same database would be mistaken for ours.
  const schema =
    engine === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]
          ?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(engine) },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    throw result.error instanceof Error ? result.error : new Error(String(result.error));
  }
  return result;
}
