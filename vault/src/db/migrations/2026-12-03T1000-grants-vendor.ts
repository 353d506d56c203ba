import type { Kysely, Migration } from 'kysely';

/**
 * Grants by vendor, so the vendor registry can tell a vendor some customer has a grant with from
 * a stranger in one lookup, whatever its caches have forgotten (see VendorRegistry).
 */
export function grantsVendorMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('grants_vendor').on('grants').column('vendor_id').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('grants_vendor').execute();
    },
  };
}
