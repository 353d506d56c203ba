/** Row types of the records feature. Times are milliseconds since the epoch. */

export interface RecordsTable {
  customer_id: string;
  path: string;
  category: string;
  /** The latest version number; every write (deletion included) increments it. */
  current_version: number;
  current_version_id: string;
  /** 1 when the latest version is a deletion. */
  deleted: number;
  created_at: number;
  updated_at: number;
}

export interface RecordVersionsTable {
  id: string;
  customer_id: string;
  path: string;
  version: number;
  /** AES-256-GCM under the customer's data key; null for a deletion. */
  content: Uint8Array | null;
  deleted: number;
  created_at: number;
}

export interface RecordsTables {
  records: RecordsTable;
  record_versions: RecordVersionsTable;
}
