import type { GrantSummary } from '@webkey/protocol';
import type { GrantsTable } from './grants.table.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Whether a grant still allows reads. Revocation wins. */
export function grantStatus(row: GrantsTable, now: number): GrantSummary['status'] {
  if (row.revoked_at !== null) return 'revoked';
  return row.expires_at <= now ? 'expired' : 'active';
}

/** A grant as its customer sees it. */
export function summarizeGrant(row: GrantsTable, now: number): GrantSummary {
  return {
    id: row.id,
    vendor: { id: row.vendor_id, name: row.vendor_name },
    scope: JSON.parse(row.scope),
    writes: JSON.parse(row.writes),
    purpose: row.purpose,
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
    revokedAt: iso(row.revoked_at),
    lastReadAt: iso(row.last_read_at),
    status: grantStatus(row, now),
    notifies: row.webhook_uri !== null,
  };
}
