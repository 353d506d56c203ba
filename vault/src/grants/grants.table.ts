/** Row type of standing grants. Times are milliseconds since the epoch. */
export interface GrantsTable {
  id: string;
  customer_id: string;
  vendor_id: string;
  /** The vendor's name when the grant was made, for the customer's list. */
  vendor_name: string;
  /** The key whose redemption created it. */
  webkey_id: string;
  /** JSON array of scope items: what the vendor may re-read. */
  scope: string;
  purpose: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_read_at: number | null;
  /** Where the vendor wants change notifications (from its metadata), if anywhere. */
  webhook_uri: string | null;
  /** JSON array of record kinds the vendor may deposit. */
  writes: string;
}
