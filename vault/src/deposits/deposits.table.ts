/** A record a vendor deposited into a customer's vault. Times are milliseconds since the epoch. */
export interface DepositsTable {
  id: string;
  customer_id: string;
  grant_id: string;
  vendor_id: string;
  vendor_name: string;
  kind: string;
  /** The vendor's own id for the record; versions count per (customer, vendor, ref). */
  ref: string;
  version: number;
  /** The content, sealed under the customer's data key. */
  content: Uint8Array;
  /** The vendor's signed deposit (JWS), sealed: proof of who issued the record. */
  signed: Uint8Array;
  status: 'pending' | 'accepted' | 'discarded';
  received_at: number;
  decided_at: number | null;
  /** The signed deposit's `jti`: unique per vendor. Null for deposits before 2026-12-01. */
  jti: string | null;
  /** SHA-256 (hex) of the signed deposit, to tell its retry from another deposit. */
  signed_hash: string | null;
  /** The `deposit_received` audit entry, for the answer to a retry. */
  audit_entry_id: string | null;
}
