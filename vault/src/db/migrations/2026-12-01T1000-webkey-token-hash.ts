import type { Kysely, Migration } from 'kysely';

/**
 * Web keys remember the SHA-256 of the compact JWS the vault issued, so redemption recognises its
 * own keys by their exact bytes (see findStoredKey). Keys issued before have none and are
 * verified by signature.
 */
export function webkeyTokenHashMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webkeys').addColumn('token_hash', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('webkeys').dropColumn('token_hash').execute();
    },
  };
}
