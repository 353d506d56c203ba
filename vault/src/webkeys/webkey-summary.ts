import type { WebkeySummary } from '@webkey/protocol';
import type { WebkeysTable } from './webkeys.table.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Why a key can no longer be redeemed, or 'active'. Revocation wins over the other reasons. */
export function webkeyStatus(row: WebkeysTable, now: number): WebkeySummary['status'] {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at <= now) return 'expired';
  if (row.uses_left <= 0) return 'used';
  return 'active';
}

/** The summary of a stored key. */
export function summarizeWebkey(row: WebkeysTable, now: number): WebkeySummary {
  return {
    id: row.id,
    scope: JSON.parse(row.scope),
    purpose: row.purpose,
    audience: row.audience,
    issuedAt: new Date(row.issued_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
    usesTotal: row.uses_total,
    usesLeft: row.uses_left,
    status: webkeyStatus(row, now),
    grantDays: row.grant_days,
    revokedAt: iso(row.revoked_at),
    lastRedeemedAt: iso(row.last_redeemed_at),
    lastVendor:
      row.last_vendor_id && row.last_vendor_name
        ? { id: row.last_vendor_id, name: row.last_vendor_name }
        : null,
  };
}
