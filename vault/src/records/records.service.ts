import {
  type Category,
  parseRecordPath,
  RECORD_SCHEMAS,
  type RecordPath,
  type RecordVersion,
} from '@webkey/protocol';
import { type CustomerScope, inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { newId } from '../crypto/ids.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { toProblemIssues } from '../http/problem-issues.ts';
import { VaultError } from '../http/vault-error.ts';
import { enqueueChangeNotifications } from '../webhooks/enqueue.ts';
import { customerDataKey, openContent, sealContent } from './record-crypto.ts';
import {
  advanceRecord,
  currentVersionsAt,
  findRecord,
  findVersion,
  insertRecord,
  insertVersion,
  listCurrentVersions,
  listVersions,
} from './records.repository.ts';

/** The preconditions a write carries (RFC 9110 section 13.1). */
export interface WritePreconditions {
  /** The version ids from If-Match; `*` matches any current version. */
  ifMatch?: string[];
  /** If-None-Match: * : only create, never replace. */
  ifNoneMatch?: boolean;
}

/** Parses a path or answers 404: an unknown path names nothing that could exist. */
export function requirePath(text: string): RecordPath {
  const parsed = parseRecordPath(text);
  if (!parsed) {
    throw new VaultError('not_found', {
      detail: `${text} is not a record path; see docs/data-model.md for the path grammar.`,
    });
  }
  return parsed;
}

/** Validates content against its category's schema; 400 with field pointers on failure. */
export function validateContent(category: Category, content: unknown): unknown {
  const parsed = RECORD_SCHEMAS[category].safeParse(content);
  if (!parsed.success) {
    throw new VaultError('invalid_request', {
      detail: `The content is not a valid ${category} record.`,
      errors: toProblemIssues(parsed.error.issues),
    });
  }
  return parsed.data;
}

function checkPreconditions(
  current: { current_version_id: string; deleted: number } | undefined,
  preconditions: WritePreconditions,
  deleting: boolean,
): void {
  const exists = current !== undefined && current.deleted === 0;
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifNoneMatch && exists) {
    throw new VaultError('precondition_failed', { detail: 'The record already exists.' });
  }
  // RFC 9110 section 13.2.2: preconditions are evaluated before the method's own checks.
  if (ifMatch) {
    const matches =
      exists && (ifMatch.includes('*') || ifMatch.includes(current.current_version_id));
    if (!matches) {
      throw new VaultError('precondition_failed', {
        detail: 'The record is not at the version you sent in If-Match; read it again.',
      });
    }
    return;
  }
  if (deleting && !exists)
    throw new VaultError('not_found', { detail: 'The record does not exist.' });
  // A replace or delete without If-Match could silently undo someone else's change.
  if (exists || deleting) {
    throw new VaultError('precondition_required', {
      detail: 'Send If-Match with the ETag of the version you are changing.',
    });
  }
}

function toVersion(
  row: { id: string; version: number; deleted: number; created_at: number },
  path: RecordPath,
  content: unknown,
): RecordVersion {
  return {
    path: path.path,
    category: path.category,
    versionId: row.id,
    version: row.version,
    deleted: row.deleted === 1,
    content: row.deleted === 1 ? null : content,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** The outcome of a write: the new version, and whether it created the record (201) or replaced it. */
export interface WriteResult {
  record: RecordVersion;
  created: boolean;
}

/**
 * Writes a new version of a record (creating the record on first write, or again after a
 * deletion). Nothing is overwritten: the previous versions stay readable. Concurrent writers
 * with the same If-Match cannot both win: the version advance is conditional. The change is
 * audited in the same transaction.
 *
 * @example
 * await writeRecord(ctx, customerId, 'address.home', { lines: ['1 Main St'], locality: 'X', country: 'US' }, { ifNoneMatch: true }, meta);
 */
export async function writeRecord(
  ctx: VaultContext,
  customerId: string,
  pathText: string,
  body: unknown,
  preconditions: WritePreconditions,
  meta: RequestMeta,
): Promise<WriteResult> {
  const path = requirePath(pathText);
  const content = validateContent(path.category, body);
  return commitVersion(ctx, customerId, path, content, preconditions, meta);
}

/** Deletes a record by writing a deletion version; history remains. If-Match is required. */
export async function deleteRecord(
  ctx: VaultContext,
  customerId: string,
  pathText: string,
  preconditions: WritePreconditions,
  meta: RequestMeta,
): Promise<RecordVersion> {
  const path = requirePath(pathText);
  return (await commitVersion(ctx, customerId, path, null, preconditions, meta)).record;
}

/** A live record's current contents, decrypted; null when it does not exist or was deleted. */
async function currentContent(scope: CustomerScope, path: string): Promise<unknown> {
  const [row] = await currentVersionsAt(scope.trx, scope.customerId, [path]);
  if (!row?.content) return null;
  return openContent(
    scope.dataKey,
    { customerId: scope.customerId, path, version: row.version },
    row.content,
  );
}

async function commitVersion(
  ctx: VaultContext,
  customerId: string,
  path: RecordPath,
  content: unknown,
  preconditions: WritePreconditions,
  meta: RequestMeta,
): Promise<WriteResult> {
  const deleting = content === null;
  const versionId = newId('ver', ctx.random);
  const now = ctx.clock().getTime();
  try {
    return await inCustomerTransaction(ctx, customerId, async (scope) => {
      const { trx, dataKey } = scope;
      const current = await findRecord(trx, customerId, path.path);
      checkPreconditions(current, preconditions, deleting);
      // The profile's previous contents decide whether an age claim's answer changed.
      const before = path.path === 'profile' ? await currentContent(scope, path.path) : undefined;
      const version = (current?.current_version ?? 0) + 1;
      if (current) {
        const advanced = await advanceRecord(trx, customerId, path.path, current.current_version, {
          versionId,
          deleted: deleting,
          at: now,
        });
        if (!advanced)
          throw new VaultError('precondition_failed', { detail: 'The record changed meanwhile.' });
      } else {
        await insertRecord(trx, {
          customer_id: customerId,
          path: path.path,
          category: path.category,
          current_version: version,
          current_version_id: versionId,
          deleted: 0,
          created_at: now,
          updated_at: now,
        });
      }
      const row = {
        id: versionId,
        customer_id: customerId,
        path: path.path,
        version,
        content: deleting
          ? null
          : sealContent(ctx.random, dataKey, { customerId, path: path.path, version }, content),
        deleted: deleting ? 1 : 0,
        created_at: now,
      };
      await insertVersion(trx, row);
      const created = !current || current.deleted === 1;
      await appendAudit(ctx, scope, {
        event: 'record_changed',
        paths: [path.path],
        meta,
        reason: deleting ? 'deleted' : created ? 'created' : 'updated',
      });
      await enqueueChangeNotifications(ctx, scope, {
        path: path.path,
        before: before ?? null,
        after: content,
      });
      return { record: toVersion(row, path, content), created: created && !deleting };
    });
  } catch (error) {
    // Two first writes of one path at once: the loser's insert hits the primary key.
    if (isUniqueViolation(error)) {
      throw new VaultError('precondition_failed', { detail: 'The record was created meanwhile.' });
    }
    throw error;
  }
}

/** The current version of a record; 404 when it does not exist or was deleted. */
export async function readRecord(
  ctx: VaultContext,
  customerId: string,
  pathText: string,
): Promise<RecordVersion> {
  const path = requirePath(pathText);
  const record = await findRecord(ctx.db, customerId, path.path);
  if (!record || record.deleted === 1) {
    throw new VaultError('not_found', { detail: `${path.path} does not exist.` });
  }
  return readVersion(ctx, customerId, pathText, record.current_version);
}

/** One version of a record, deleted or not. */
export async function readVersion(
  ctx: VaultContext,
  customerId: string,
  pathText: string,
  version: number,
): Promise<RecordVersion> {
  const path = requirePath(pathText);
  const row = await findVersion(ctx.db, customerId, path.path, version);
  if (!row)
    throw new VaultError('not_found', { detail: `${path.path} has no version ${version}.` });
  const key = await customerDataKey(ctx, ctx.db, customerId);
  const content =
    row.content && openContent(key, { customerId, path: path.path, version }, row.content);
  return toVersion(row, path, content);
}

/** Every version of a record, newest first. */
export async function readHistory(
  ctx: VaultContext,
  customerId: string,
  pathText: string,
): Promise<RecordVersion[]> {
  const path = requirePath(pathText);
  const rows = await listVersions(ctx.db, customerId, path.path);
  if (rows.length === 0)
    throw new VaultError('not_found', { detail: `${path.path} does not exist.` });
  const key = await customerDataKey(ctx, ctx.db, customerId);
  return rows.map((row) =>
    toVersion(
      row,
      path,
      row.content &&
        openContent(key, { customerId, path: path.path, version: row.version }, row.content),
    ),
  );
}

/** The customer's live records, optionally of one category. */
export async function listRecords(
  ctx: VaultContext,
  customerId: string,
  category?: Category,
): Promise<RecordVersion[]> {
  const rows = await listCurrentVersions(ctx.db, customerId, category ? { category } : {});
  if (rows.length === 0) return [];
  const key = await customerDataKey(ctx, ctx.db, customerId);
  // Code-point order on both engines (a Postgres collation could order differently).
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return rows.map((row) => {
    const path = requirePath(row.path);
    const content =
      row.content &&
      openContent(key, { customerId, path: row.path, version: row.version }, row.content);
    return toVersion(row, path, content);
  });
}
