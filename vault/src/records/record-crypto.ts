import { findCustomer } from '../accounts/accounts.repository.ts';
import type { VaultContext } from '../context.ts';
import { open, seal } from '../crypto/aead.ts';
import { customerKeyFromRow } from '../crypto/data-keys.ts';
import type { Db } from '../db/schema.ts';
import type { RandomBytes } from '../deps.ts';
import { VaultError } from '../http/vault-error.ts';

/**
 * Sealing of record contents under the customer's data key. The associated data binds customer,
 * path and version, so a ciphertext copied to another row, path or version is refused.
 */

function context(customerId: string, path: string, version: number): string {
  return `webkey:record:v1:${customerId}:${path}:${version}`;
}

/** The customer's unwrapped data key. */
export async function customerDataKey(
  ctx: VaultContext,
  db: Db,
  customerId: string,
): Promise<Uint8Array> {
  const customer = await findCustomer(db, customerId);
  if (!customer) throw new VaultError('unauthenticated');
  return customerKeyFromRow(ctx.keyring, customerId, customer);
}

/** Encrypts one version's content. */
export function sealContent(
  random: RandomBytes,
  dataKey: Uint8Array,
  at: { customerId: string; path: string; version: number },
  content: unknown,
): Uint8Array {
  const plaintext = Buffer.from(JSON.stringify(content), 'utf8');
  return seal(dataKey, plaintext, context(at.customerId, at.path, at.version), random);
}

/** Decrypts one version's content; throws DecryptionError if it was tampered with or moved. */
export function openContent(
  dataKey: Uint8Array,
  at: { customerId: string; path: string; version: number },
  sealed: Uint8Array,
): unknown {
  return JSON.parse(
    Buffer.from(open(dataKey, sealed, context(at.customerId, at.path, at.version))).toString(
      'utf8',
    ),
  );
}
