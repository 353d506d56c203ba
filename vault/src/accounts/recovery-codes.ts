import type { VaultContext } from '../context.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import { newId } from '../crypto/ids.ts';
import type { Db } from '../db/schema.ts';
import { deleteRecoveryCodes, insertRecoveryCodes } from './accounts.repository.ts';
import type { RecoveryCodesTable } from './accounts.table.ts';

/** How many recovery codes a customer gets at sign-up (and on regeneration). */
export const RECOVERY_CODE_COUNT = 10;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_SYMBOLS = 16; // 16 x 5 bits = 80 bits per code

/**
 * Canonical form of a recovery code as typed: upper case, separators dropped, and the
 * look-alikes Crockford base32 folds (I and L are 1, O is 0).
 *
 * @example
 * normalizeRecoveryCode('abcd-efgh-jkmn-pqrs') // 'ABCDEFGHJKMNPQRS'
 */
export function normalizeRecoveryCode(text: string): string {
  return text.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
}

function formatCode(random: Uint8Array): string {
  let symbols = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of random) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && symbols.length < CODE_SYMBOLS) {
      bits -= 5;
      symbols += CROCKFORD[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return symbols.match(/.{4}/g)!.join('-');
}

/** The stored hash of a recovery code. 80 random bits make a fast hash sufficient. */
export function hashRecoveryCode(code: string): string {
  return sha256Hex(`webkey:recovery-code:${normalizeRecoveryCode(code)}`);
}

/**
 * Replaces a customer's recovery codes with a fresh set and returns them; they are shown once
 * and only their hashes are kept.
 */
export async function replaceRecoveryCodes(
  ctx: VaultContext,
  db: Db,
  customerId: string,
): Promise<string[]> {
  await deleteRecoveryCodes(db, customerId);
  const now = ctx.clock().getTime();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => formatCode(ctx.random(10)));
  const rows: RecoveryCodesTable[] = codes.map((code) => ({
    id: newId('rc', ctx.random),
    customer_id: customerId,
    code_hash: hashRecoveryCode(code),
    created_at: now,
    used_at: null,
  }));
  await insertRecoveryCodes(db, rows);
  return codes;
}
