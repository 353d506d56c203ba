import { createHash } from 'node:crypto';
import { type AuditEntry, type AuditEvent, canonicalJson, GENESIS_HASH } from '@webkey/protocol';
import type { CustomerScope } from '../accounts/customer-transaction.ts';
import type { VaultContext } from '../context.ts';
import { open, seal } from '../crypto/aead.ts';
import { newTimeOrderedId } from '../crypto/ids.ts';
import { preparedQuery } from '../db/prepared.ts';
import type { Db } from '../db/schema.ts';
import type { RandomBytes } from '../deps.ts';
import type { AuditEntriesTable } from './audit.table.ts';

/** Where a request came from, as recorded in the audit log. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

/** What happened, for one audit entry. */
export interface AuditFacts {
  event: AuditEvent;
  vendor?: { id: string; name: string } | null;
  keyId?: string | null;
  paths?: string[];
  purpose?: string | null;
  meta: RequestMeta;
  outcome?: 'success' | 'refused';
  /** Why a request was refused, or for record_changed what changed (created, updated, deleted). */
  reason?: string | null;
  /** When it happened (ms); default now. A redemption passes its own time, so both agree. */
  at?: number;
}

/**
 * The chain hash of an entry, as auditEntryHash in @webkey/protocol computes it, but synchronous:
 * it runs while the customer's transaction holds the database, where every trip through the
 * event loop delays all other writers.
 */
function entryHash(body: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

function sealContext(customerId: string, seq: number): string {
  return `webkey:audit:v1:${customerId}:${seq}`;
}

const MAX_USER_AGENT = 300;

const chainHead = preparedQuery<{ customerId: string }, Pick<AuditEntriesTable, 'seq' | 'hash'>>(
  (db, p) =>
    db
      .selectFrom('audit_entries')
      .select(['seq', 'hash'])
      .where('customer_id', '=', p.customerId)
      .orderBy('seq', 'desc')
      .limit(1),
);

const insertEntry = preparedQuery<AuditEntriesTable, never>((db, p) =>
  db.insertInto('audit_entries').values({
    id: p.id,
    customer_id: p.customer_id,
    seq: p.seq,
    at: p.at,
    event: p.event,
    vendor_id: p.vendor_id,
    hash: p.hash,
    body: p.body,
  }),
);

/** The head of a customer's chain: the last entry's seq and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Builds the entry that follows `previous` in a customer's chain (the first one when
 * `previous` is undefined) and the row that stores it, its body sealed under the customer's
 * data key. Pure: it reads and writes no database. appendAudit inserts the row inside the
 * customer's transaction; the scale benchmark's seeder (vault/bench/seed-scale.ts) writes such
 * rows in bulk.
 *
 * @example
 * const first = buildAuditEntry('cus_1', dataKey, undefined, { event: 'signed_up', meta }, at, random);
 * const second = buildAuditEntry('cus_1', dataKey, first.entry, facts, at, random);
 */
export function buildAuditEntry(
  customerId: string,
  dataKey: Uint8Array,
  previous: ChainHead | undefined,
  facts: AuditFacts,
  /** When it happened (ms); facts.at is not read. */
  at: number,
  random: RandomBytes,
): { entry: AuditEntry; row: AuditEntriesTable } {
  const body: Omit<AuditEntry, 'hash'> = {
    id: newTimeOrderedId('aud', at, random),
    seq: (previous?.seq ?? 0) + 1,
    at: new Date(at).toISOString(),
    event: facts.event,
    vendor: facts.vendor ?? null,
    keyId: facts.keyId ?? null,
    paths: facts.paths ?? [],
    purpose: facts.purpose ?? null,
    ip: facts.meta.ip,
    userAgent: facts.meta.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
    outcome: facts.outcome ?? 'success',
    reason: facts.reason ?? null,
    prevHash: previous?.hash ?? GENESIS_HASH,
  };
  const entry: AuditEntry = { ...body, hash: entryHash(body) };
  const row: AuditEntriesTable = {
    id: entry.id,
    customer_id: customerId,
    seq: entry.seq,
    at,
    event: entry.event,
    vendor_id: entry.vendor?.id ?? null,
    hash: entry.hash,
    body: seal(
      dataKey,
      Buffer.from(JSON.stringify(entry), 'utf8'),
      sealContext(customerId, entry.seq),
      random,
    ),
  };
  return { entry, row };
}

/**
 * Appends one entry to the customer's hash-chained audit log, inside the caller's customer
 * transaction (so the entry commits or rolls back with what it records). The entry links to the
 * previous one by its hash; its body is sealed under the customer's data key.
 *
 * @example
 * await appendAudit(ctx, scope, { event: 'key_issued', keyId, paths, purpose, meta });
 */
export async function appendAudit(
  ctx: VaultContext,
  scope: CustomerScope,
  facts: AuditFacts,
): Promise<AuditEntry> {
  const { trx, customerId, dataKey } = scope;
  const last = (await chainHead.run(trx, { customerId })).rows[0];
  const at = facts.at ?? ctx.clock().getTime();
  const { entry, row } = buildAuditEntry(customerId, dataKey, last, facts, at, ctx.random);
  await insertEntry.run(trx, row);
  return entry;
}

/** Filters for reading the log. */
export interface AuditQuery {
  /** Entries with seq below this (for paging backwards from the newest). */
  before?: number;
  limit?: number;
  vendorId?: string;
  event?: AuditEvent;
}

/** Reads audit entries newest first, decrypted. */
export async function readAudit(
  db: Db,
  customerId: string,
  dataKey: Uint8Array,
  query: AuditQuery,
): Promise<AuditEntry[]> {
  let select = db
    .selectFrom('audit_entries')
    .select(['seq', 'body'])
    .where('customer_id', '=', customerId)
    .orderBy('seq', 'desc');
  if (query.before !== undefined) select = select.where('seq', '<', query.before);
  if (query.vendorId !== undefined) select = select.where('vendor_id', '=', query.vendorId);
  if (query.event !== undefined) select = select.where('event', '=', query.event);
  if (query.limit !== undefined) select = select.limit(query.limit);
  const rows = await select.execute();
  return rows.map((row) => openEntry(customerId, dataKey, row));
}

/** Decrypts one stored entry. */
export function openEntry(
  customerId: string,
  dataKey: Uint8Array,
  row: { seq: number; body: Uint8Array },
): AuditEntry {
  return JSON.parse(
    Buffer.from(open(dataKey, row.body, sealContext(customerId, row.seq))).toString('utf8'),
  );
}
