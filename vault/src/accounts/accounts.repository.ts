import type { Db } from '../db/schema.ts';
import type {
  ChallengePurpose,
  CustomersTable,
  PasskeysTable,
  RecoveryCodesTable,
  WebauthnChallengesTable,
} from './accounts.table.ts';

/** Storage of customers, passkeys, sessions, recovery codes and challenges. */

export async function insertCustomer(db: Db, row: CustomersTable): Promise<void> {
  await db.insertInto('customers').values(row).execute();
}

export async function findCustomer(db: Db, id: string): Promise<CustomersTable | undefined> {
  return db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertPasskey(db: Db, row: PasskeysTable): Promise<void> {
  await db.insertInto('passkeys').values(row).execute();
}

export async function findPasskey(db: Db, id: string): Promise<PasskeysTable | undefined> {
  return db.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listPasskeys(db: Db, customerId: string): Promise<PasskeysTable[]> {
  return db
    .selectFrom('passkeys')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/**
 * Records a successful assertion. Conditional on the counter read before verification, so two
 * concurrent sign-ins with one counter value cannot both succeed. Returns false if it changed.
 */
export async function advancePasskeyCounter(
  db: Db,
  id: string,
  expectedCounter: number,
  now: { counter: number; backedUp: boolean },
  usedAt: number,
): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ counter: now.counter, backed_up: now.backedUp ? 1 : 0, last_used_at: usedAt })
    .where('id', '=', id)
    .where('counter', '=', expectedCounter)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function deletePasskey(db: Db, customerId: string, id: string): Promise<boolean> {
  const result = await db
    .deleteFrom('passkeys')
    .where('id', '=', id)
    .where('customer_id', '=', customerId)
    .executeTakeFirst();
  return result.numDeletedRows === 1n;
}

export async function countPasskeys(db: Db, customerId: string): Promise<number> {
  const row = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('customer_id', '=', customerId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function insertChallenge(db: Db, row: WebauthnChallengesTable): Promise<void> {
  await db.insertInto('webauthn_challenges').values(row).execute();
}

/**
 * Removes and returns a pending challenge in one statement, so it can be used once only,
 * whatever the concurrency. Expired rows are returned too; the caller refuses them.
 */
export async function consumeChallenge(
  db: Db,
  challenge: string,
  purpose: ChallengePurpose,
): Promise<WebauthnChallengesTable | undefined> {
  return db
    .deleteFrom('webauthn_challenges')
    .where('challenge', '=', challenge)
    .where('purpose', '=', purpose)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteExpiredChallenges(db: Db, now: number): Promise<void> {
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
}

export async function insertSession(
  db: Db,
  row: { id_hash: string; customer_id: string; created_at: number; expires_at: number },
): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

export async function findLiveSession(db: Db, idHash: string, now: number) {
  return db
    .selectFrom('sessions')
    .selectAll()
    .where('id_hash', '=', idHash)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

export async function deleteCustomerSessions(db: Db, customerId: string): Promise<void> {
  await db.deleteFrom('sessions').where('customer_id', '=', customerId).execute();
}

export async function insertRecoveryCodes(db: Db, rows: RecoveryCodesTable[]): Promise<void> {
  if (rows.length > 0) await db.insertInto('recovery_codes').values(rows).execute();
}

export async function findUnusedRecoveryCode(
  db: Db,
  codeHash: string,
): Promise<RecoveryCodesTable | undefined> {
  return db
    .selectFrom('recovery_codes')
    .selectAll()
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
}

/** Marks a recovery code used, once: false if it was already used (or replaced). */
export async function useRecoveryCode(db: Db, id: string, usedAt: number): Promise<boolean> {
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: usedAt })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function deleteRecoveryCodes(db: Db, customerId: string): Promise<void> {
  await db.deleteFrom('recovery_codes').where('customer_id', '=', customerId).execute();
}

export async function countUnusedRecoveryCodes(db: Db, customerId: string): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('customer_id', '=', customerId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
