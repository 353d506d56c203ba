/** Row types of web keys and redemption bookkeeping. Times are milliseconds since the epoch. */

export interface WebkeysTable {
  /** The key's jti. */
  id: string;
  customer_id: string;
  kid: string;
  /** JSON array of scope items. */
  scope: string;
  purpose: string;
  /** The vendor id the key is bound to; null: any authenticated vendor. */
  audience: string | null;
  short_code_hash: string;
  issued_at: number;
  expires_at: number;
  uses_total: number;
  uses_left: number;
  revoked_at: number | null;
  last_redeemed_at: number | null;
  last_vendor_id: string | null;
  last_vendor_name: string | null;
  /** When set, redeeming the key also grants the vendor re-reads for this many days. */
  grant_days: number | null;
  /** JSON array of record kinds the grant lets the vendor deposit, or null. */
  grant_writes: string | null;
  /**
   * SHA-256 (hex) of the compact JWS as issued: redemption recognises the key by its exact bytes.
   * Null for keys issued before the vault kept it; those are verified by their signature.
   */
  token_hash: string | null;
}

export interface AssertionJtisTable {
  vendor_id: string;
  jti: string;
  expires_at: number;
}

export interface IdempotencyRecordsTable {
  vendor_id: string;
  idempotency_key: string;
  /** SHA-256 of what was redeemed, so a reused Idempotency-Key with another key is refused. */
  request_hash: string;
  customer_id: string;
  /** The response, sealed under the customer's data key. */
  response: Uint8Array;
  created_at: number;
  expires_at: number;
}

export interface WebkeysTables {
  webkeys: WebkeysTable;
  assertion_jtis: AssertionJtisTable;
  idempotency_records: IdempotencyRecordsTable;
}
