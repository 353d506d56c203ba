import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { RandomBytes } from '../deps.ts';

/**
 * AES-256-GCM sealing with associated data. The sealed form is
 * `version (1 byte) | nonce (12) | ciphertext | tag (16)`; the associated data is not stored,
 * the caller supplies it again to open, so a ciphertext moved to another context fails.
 */

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** A ciphertext failed authentication: tampered, moved, or opened with the wrong key. */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

function checkKey(key: Uint8Array): void {
  if (key.byteLength !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
}

/**
 * Encrypts and authenticates `plaintext`, binding `associatedData`.
 *
 * @example
 * const sealed = seal(key, utf8('secret'), 'record:cus_1:address.home:1', systemRandom);
 */
export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  associatedData: string,
  random: RandomBytes,
): Uint8Array {
  checkKey(key);
  // Random 96-bit nonces: safe far beyond the number of versions a customer will ever write
  // under one data key (NIST SP 800-38D section 8.3 bounds 2^32 invocations).
  const nonce = random(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return new Uint8Array(Buffer.concat([Buffer.from([FORMAT_VERSION]), nonce, body, tag]));
}

/**
 * Opens a value sealed by {@link seal}; throws {@link DecryptionError} when the key, the
 * associated data or any byte differs.
 *
 * @example
 * const plaintext = open(key, sealed, 'record:cus_1:address.home:1');
 */
export function open(key: Uint8Array, sealed: Uint8Array, associatedData: string): Uint8Array {
  checkKey(key);
  if (sealed.byteLength < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
    throw new DecryptionError('not a sealed value');
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const tag = sealed.subarray(sealed.byteLength - TAG_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.byteLength - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    throw new DecryptionError('the sealed value failed authentication');
  }
}
