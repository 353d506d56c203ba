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
}
