import { z } from 'zod';
import { canonicalJson } from './canonical-json.ts';

/** The events a customer's audit log records. */
export const AUDIT_EVENTS = [
  'signed_up',
  'signed_in',
  'key_issued',
  'key_redeemed',
  'key_refused',
  'key_revoked',
  'record_changed',
  'grant_read',
  'grant_refused',
  'grant_revoked',
  'deposit_received',
  'deposit_refused',
  'deposit_accepted',
  'deposit_discarded',
  'passkey_added',
  'passkey_removed',
  'recovery_codes_replaced',
] as const;
/** An audit event. */
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** The hash that precedes the first entry of every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** One entry of a customer's hash-chained audit log. */
export const auditEntrySchema = z.object({
  id: z.string(),
  seq: z.number().int().positive(),
  at: z.string(),
  event: z.enum(AUDIT_EVENTS),
  vendor: z.object({ id: z.string(), name: z.string() }).nullable(),
  keyId: z.string().nullable(),
  paths: z.array(z.string()),
  purpose: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  outcome: z.enum(['success', 'refused']),
  reason: z.string().nullable(),
  prevHash: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
/** An audit entry. */
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** An export of a customer's whole audit log with the vault's signed checkpoint of its head. */
export const auditExportSchema = z.object({
  format: z.literal('webkey-audit-v1'),
  issuer: z.string().url(),
  exportedAt: z.string(),
  entries: z.array(auditEntrySchema),
  /** Compact JWS, typ webkey-checkpoint+jwt, claims { iss, sub, seq, head, iat }. */
  checkpoint: z.string(),
  /** The vault's public keys at export time; verify against the vault's live JWKS when you can. */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
});
/** An audit export. */
export type AuditExport = z.infer<typeof auditExportSchema>;

/**
 * The SHA-256 (hex) of an entry: over the RFC 8785 canonical JSON of every member except `hash`
 * itself, `prevHash` included, which links the chain.
 *
 * @example
 * entry.hash === await auditEntryHash(entry)
 */
export async function auditEntryHash(
  entry: Omit<AuditEntry, 'hash' | 'event'> & { event: string; hash?: string },
): Promise<string> {
  const { hash: _ignored, ...body } = entry;
  const bytes = new TextEncoder().encode(canonicalJson(body));
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
