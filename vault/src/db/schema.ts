import type { Kysely, Transaction } from 'kysely';
import type { AccountsTables } from '../accounts/accounts.table.ts';
import type { AuditEntriesTable } from '../audit/audit.table.ts';
import type { DepositsTable } from '../deposits/deposits.table.ts';
import type { GrantsTable } from '../grants/grants.table.ts';
import type { RateLimitsTable } from '../limits/rate-limits.table.ts';
import type { RecordsTables } from '../records/records.table.ts';
import type { SigningKeysTable } from '../signing/signing.table.ts';
import type { WebhookOutboxTable } from '../webhooks/webhooks.table.ts';
import type { WebkeysTables } from '../webkeys/webkeys.table.ts';

/** Every table of the vault, for Kysely. */
export interface Database extends AccountsTables, RecordsTables, WebkeysTables {
  signing_keys: SigningKeysTable;
  audit_entries: AuditEntriesTable;
  rate_limits: RateLimitsTable;
  grants: GrantsTable;
  webhook_outbox: WebhookOutboxTable;
  deposits: DepositsTable;
}

/** The database handle, or a transaction on it: repository functions accept either. */
export type Db = Kysely<Database> | Transaction<Database>;

/** The storage engine in use; only migrations and a few locks need to know. */
export type Engine = 'sqlite' | 'postgres';
