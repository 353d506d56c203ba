import { newId } from '../crypto/ids.ts';
import type { Db } from '../db/schema.ts';
import type { WebkeysTable } from '../webkeys/webkeys.table.ts';
import { findGrantFor, insertGrant } from './grants.repository.ts';

const DAY_MS = 24 * 3600 * 1000;

/**
 * The standing grant a redemption of a grant-making key gives its vendor: created on the first
 * redemption by that vendor, the same one on later redemptions of the same key.
 */
export async function openGrant(
  db: Db,
  key: WebkeysTable & { grant_days: number },
  vendor: { id: string; name: string; webhookUri?: string },
  now: number,
  random: (length: number) => Uint8Array,
): Promise<{ id: string; expiresAt: string; writes: string[] }> {
  const existing = await findGrantFor(db, key.id, vendor.id);
  if (existing) {
    return {
      id: existing.id,
      expiresAt: new Date(existing.expires_at).toISOString(),
      writes: JSON.parse(existing.writes),
    };
  }
  const row = {
    id: newId('grt', random),
    customer_id: key.customer_id,
    vendor_id: vendor.id,
    vendor_name: vendor.name,
    webkey_id: key.id,
    scope: key.scope,
    purpose: key.purpose,
    created_at: now,
    expires_at: now + key.grant_days * DAY_MS,
    revoked_at: null,
    last_read_at: null,
    webhook_uri: vendor.webhookUri ?? null,
    writes: key.grant_writes ?? '[]',
  };
  await insertGrant(db, row);
  return {
    id: row.id,
    expiresAt: new Date(row.expires_at).toISOString(),
    writes: JSON.parse(row.writes),
  };
}
