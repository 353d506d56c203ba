import type { RandomBytes } from '../deps.ts';
import { open, seal } from './aead.ts';
import type { MasterKeyring } from './master-keyring.ts';
import { MasterKeyError } from './master-keyring.ts';

/**
 * Per-customer data keys (envelope encryption): record contents are sealed with the customer's
 * data key; the data key is stored wrapped by the current master key, bound to the customer id
 * so a wrapped key copied to another customer's row cannot be unwrapped there.
 */

/** A wrapped data key as stored with the customer. */
export interface WrappedDataKey {
  wrapped: Uint8Array;
  masterKeyId: string;
}

function wrapContext(customerId: string): string {
  return `webkey:data-key:v1:${customerId}`;
}

/**
 * Creates a fresh data key for a customer and wraps it.
 *
 * @example
 * const { key, wrapped, masterKeyId } = createDataKey(keyring, 'cus_1', systemRandom);
 */
export function createDataKey(
  keyring: MasterKeyring,
  customerId: string,
  random: RandomBytes,
): WrappedDataKey & { key: Uint8Array } {
  const key = random(32);
  return { key, ...wrapDataKey(keyring, customerId, key, random) };
}

/** Wraps a data key under the keyring's current master key. */
export function wrapDataKey(
  keyring: MasterKeyring,
  customerId: string,
  key: Uint8Array,
  random: RandomBytes,
): WrappedDataKey {
  return {
    wrapped: seal(keyring.current.key, key, wrapContext(customerId), random),
    masterKeyId: keyring.current.id,
  };
}

/**
 * Unwraps a customer's data key; throws when its master key is not in the keyring or the
 * wrapped key does not belong to this customer.
 */
export function unwrapDataKey(
  keyring: MasterKeyring,
  customerId: string,
  stored: WrappedDataKey,
): Uint8Array {
  const master = keyring.byId(stored.masterKeyId);
  if (!master) {
    throw new MasterKeyError(`master key ${stored.masterKeyId} is not in the keyring`);
  }
  return open(master.key, stored.wrapped, wrapContext(customerId));
}

/**
 * Unwraps a customer's data key from their stored row: the one place the row's columns are read
 * as a wrapped key.
 *
 * @example
 * const dataKey = customerKeyFromRow(ctx.keyring, customerId, customerRow);
 */
export function customerKeyFromRow(
  keyring: MasterKeyring,
  customerId: string,
  row: { data_key: Uint8Array; master_key_id: string },
): Uint8Array {
  return unwrapDataKey(keyring, customerId, {
    wrapped: row.data_key,
    masterKeyId: row.master_key_id,
  });
}
