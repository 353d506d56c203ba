import type { Transaction } from 'kysely';
import type { VaultContext } from '../context.ts';
import { customerKeyFromRow } from '../crypto/data-keys.ts';
import type { Database } from '../db/schema.ts';
import { VaultError } from '../http/vault-error.ts';

/** What a transaction on one customer's data gets: the transaction and their data key. */
export interface CustomerScope {
  trx: Transaction<Database>;
  customerId: string;
  dataKey: Uint8Array;
}

/**
 * Runs `work` in a transaction that first takes a write lock on the customer's row. Every
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
  return ctx.db.transaction().execute(async (trx) => {
    const customer = await trx
      .updateTable('customers')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('id', '=', customerId)
      .returning(['data_key', 'master_key_id'])
      .executeTakeFirst();
    if (!customer) throw new VaultError('unauthenticated');
    const dataKey = customerKeyFromRow(ctx.keyring, customerId, customer);
    return work({ trx, customerId, dataKey });
  });
}
