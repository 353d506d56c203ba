import type { RandomBytes } from '../deps.ts';
import { toBase64Url } from './encoding.ts';

/**
 * A new random identifier with a type prefix, 128 bits of entropy.
 *
 * @example
 * newId('cus', systemRandom) // 'cus_3q2-7wEh...'
 */
export function newId(prefix: string, random: RandomBytes): string {
  return `${prefix}_${toBase64Url(random(16))}`;
}

/** A secret token (256 bits), base64url: session ids, challenges. */
export function newSecret(random: RandomBytes): string {
  return toBase64Url(random(32));
}
