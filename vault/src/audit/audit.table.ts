/** Row type of the audit log. */
export interface AuditEntriesTable {
  id: string;
  customer_id: string;
  /** 1, 2, 3... per customer, without gaps. */
  seq: number;
  at: number;
  event: string;
  vendor_id: string | null;
  /** The entry's chain hash (see @webkey/protocol auditEntryHash). */
  hash: string;
  /** The whole entry as JSON, sealed under the customer's data key. */
  body: Uint8Array;
}
