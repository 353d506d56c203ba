import type { Transaction } from 'kysely';
import type { VaultContext } from '../context.ts';
import { customerKeyFromRow } from '../crypto/data-keys.ts';
import { preparedQuery } from '../db/prepared.ts';
import type { Database } from '../db/schema.ts';
import { VaultError } from '../http/vault-error.ts';
import type { CustomersTable } from './accounts.table.ts';

/** What a transaction on one customer's data gets: the transaction and their data key. */
export interface CustomerScope {
  trx: Transaction<Database>;
  customerId: string;
  dataKey: Uint8Array;
}

/**
 * Runs `work` in a transaction that first takes a write lock on the customer's row (on SQLite,
 * the database's write lock that every write transaction takes at its start). Every
 * transaction that appends to a customer's audit log starts this way, so appends are serialized
 * per customer (the chain never forks) and locks are always taken in the same order (no
 * deadlocks on Postgres; SQLite serializes writers anyway).
 *
 * @example
 * await inCustomerTransaction(ctx, customerId, async ({ trx, dataKey }) => { ... });
 */
export async function inCustomerTransaction<T>(
  ctx: VaultContext,
  customerId: string,
  work: (scope: CustomerScope) => Promise<T>,
): Promise<T> {
  const lock = ctx.engine === 'postgres' ? lockCustomerRow : readCustomerKey;
  return ctx.db.transaction().execute(async (trx) => {
    const customer = (await lock.run(trx, { customerId })).rows[0];
    if (!customer) throw new VaultError('unauthenticated');
    const dataKey = customerKeyFromRow(ctx.keyring, customerId, customer);
    return work({ trx, customerId, dataKey });
  });
}

type CustomerKeyRow = Pick<CustomersTable, 'data_key' | 'master_key_id'>;

// Postgres: a row lock serializes this customer's transactions (and only theirs); NO KEY, so
// inserts elsewhere that reference the customer (their foreign-key checks) are not held up.
const lockCustomerRow = preparedQuery<{ customerId: string }, CustomerKeyRow>((db, p) =>
  db
    .selectFrom('customers')
    .select(['data_key', 'master_key_id'])
    .where('id', '=', p.customerId)
    .forNoKeyUpdate(),
);

// SQLite: every write transaction begins IMMEDIATE and so already holds the database's one
// write lock; a plain read is enough, and writes no page.
const readCustomerKey = preparedQuery<{ customerId: string }, CustomerKeyRow>((db, p) =>
  db.selectFrom('customers').select(['data_key', 'master_key_id']).where('id', '=', p.customerId),
);
