import { openEntry } from '../audit/audit-log.ts';
import type { Db } from '../db/schema.ts';

/** A vendor that has read the customer's data, as the customer sees it. */
export interface KnownVendor {
  id: string;
  name: string;
  /** When it first redeemed one of the customer's keys: since when it knows them. */
  firstReadAt: string;
  lastReadAt: string;
  /** Redemptions and re-reads under standing grants. */
  reads: number;
}

/**
 * The vendors that know this customer (have redeemed at least one of their keys), from the audit
 * log: each knows them under its own pairwise subject id, which stays the same across keys.
 *
 * @example
 * const vendors = await knownVendors(db, customerId, dataKey);
 */
export async function knownVendors(
  db: Db,
  customerId: string,
  dataKey: Uint8Array,
): Promise<KnownVendor[]> {
  const groups = await db
    .selectFrom('audit_entries')
    .select((eb) => [
      'vendor_id',
      eb.fn.min('at').as('first'),
      eb.fn.max('at').as('last'),
      eb.fn.max('seq').as('latest'),
      eb.fn.countAll<number>().as('reads'),
    ])
    .where('customer_id', '=', customerId)
    // Re-reads under a standing grant are reads too: a vendor reading daily is not "1 read".
    .where('event', 'in', ['key_redeemed', 'grant_read'])
    .where('vendor_id', 'is not', null)
    .groupBy('vendor_id')
    .execute();
  if (groups.length === 0) return [];
  // The name the vendor had at its latest read, from that entry (names live sealed in entries).
  const latest = await db
    .selectFrom('audit_entries')
    .select(['seq', 'body'])
    .where('customer_id', '=', customerId)
    .where(
      'seq',
      'in',
      groups.map((group) => Number(group.latest)),
    )
    .execute();
  const names = new Map(
    latest.map((row) => {
      const entry = openEntry(customerId, dataKey, row);
      return [entry.vendor?.id ?? '', entry.vendor?.name ?? ''];
    }),
  );
  return groups
    .map((group) => ({
      id: group.vendor_id!,
      name: names.get(group.vendor_id!) ?? group.vendor_id!,
      firstReadAt: new Date(Number(group.first)).toISOString(),
      lastReadAt: new Date(Number(group.last)).toISOString(),
      reads: Number(group.reads),
    }))
    .sort((a, b) => (a.lastReadAt < b.lastReadAt ? 1 : -1));
}
