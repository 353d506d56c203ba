import { createHmac } from 'node:crypto';

const HASH_BYTES = 32;

/**
 * HKDF-SHA256 (RFC 5869) from two HMACs per 32 bytes of output. Node's hkdfSync gives the same
 * bytes but wraps the key in a KeyObject on every call, which costs several times more; the
 * pairwise subject is derived on every redemption.
 *
 * @example
 * const key = hkdfSha256(dataKey, new Uint8Array(0), 'webkey pairwise subject v1', 32);
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: string | Uint8Array,
  length: number,
): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > 255 * HASH_BYTES)
    throw new RangeError('HKDF output length must be 1 to 8160 bytes');
  // Extract (section 2.2): an empty salt is HashLen zero bytes.
  const prk = createHmac('sha256', salt.byteLength > 0 ? salt : Buffer.alloc(HASH_BYTES))
    .update(ikm)
    .digest();
  // Expand (section 2.3): T(i) = HMAC(PRK, T(i-1) | info | i).
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * HASH_BYTES < length; i++) {
    previous = createHmac('sha256', prk)
      .update(previous)
      .update(typeof info === 'string' ? Buffer.from(info, 'utf8') : info)
      .update(Buffer.of(i))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}
