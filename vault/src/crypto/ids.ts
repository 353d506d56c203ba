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

/**
 * A new identifier that sorts by time: the time in milliseconds as 12 hex digits (so text order
 * is time order), then 80 random bits, base64url. For rows inserted in time order under a text
 * primary key (audit entries): each insert lands at the right edge of the key's index instead of
 * on a random page of it, which on a large vault is a page read from disk per insert.
 *
 * @example
 * newTimeOrderedId('aud', Date.now(), systemRandom) // 'aud_019ad7a3c1f2Xq0_...'
 */
export function newTimeOrderedId(prefix: string, at: number, random: RandomBytes): string {
  if (!Number.isSafeInteger(at) || at < 0 || at >= 2 ** 48)
    throw new RangeError('time out of range for a time-ordered id');
  return `${prefix}_${at.toString(16).padStart(12, '0')}${toBase64Url(random(10))}`;
}

/** A secret token (256 bits), base64url: session ids, challenges. */
export function newSecret(random: RandomBytes): string {
  return toBase64Url(random(32));
}
