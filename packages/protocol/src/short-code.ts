/**
 * Short codes: a web key in a form a clerk can type or a customer can read aloud. 60 random bits
 * as 12 Crockford base32 symbols, shown in groups of four (`7KQ2-M9XD-4TRA`). Input is
 * forgiving: case, spaces and hyphens are ignored, I and L read as 1, O as 0 (Crockford's rules).
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Symbols in a short code. */
export const SHORT_CODE_SYMBOLS = 12;
/** Entropy of a short code in bits. */
export const SHORT_CODE_BITS = SHORT_CODE_SYMBOLS * 5;

/**
 * Encodes random bytes (at least 8) as a grouped short code.
 *
 * @example
 * formatShortCode(crypto.getRandomValues(new Uint8Array(8))) // '7KQ2-M9XD-4TRA'
 */
export function formatShortCode(random: Uint8Array): string {
  if (random.byteLength * 8 < SHORT_CODE_BITS) throw new RangeError('need at least 60 random bits');
  let symbols = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of random) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && symbols.length < SHORT_CODE_SYMBOLS) {
      bits -= 5;
      symbols += ALPHABET[(buffer >> bits) & 31];
    }
    if (symbols.length === SHORT_CODE_SYMBOLS) break;
  }
  return symbols.match(/.{4}/g)!.join('-');
}

/**
 * The canonical form of a typed short code, or undefined when it cannot be one.
 *
 * @example
 * normalizeShortCode('7kq2 m9xd 4tra') // '7KQ2M9XD4TRA'
 * normalizeShortCode('7KQ2-M9XD-4TRU') // undefined (U is not a Crockford symbol)
 */
export function normalizeShortCode(text: string): string | undefined {
  const folded = text.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (folded.length !== SHORT_CODE_SYMBOLS) return undefined;
  for (const symbol of folded) if (!ALPHABET.includes(symbol)) return undefined;
  return folded;
}
