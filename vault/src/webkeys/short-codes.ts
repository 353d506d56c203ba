import { formatShortCode, normalizeShortCode } from '@webkey/protocol';
import { sha256Hex } from '../crypto/encoding.ts';
import type { RandomBytes } from '../deps.ts';

/** A fresh short code (60 bits) and the hash the vault stores instead of it. */
export function newShortCode(random: RandomBytes): { code: string; hash: string } {
  const code = formatShortCode(random(8));
  return { code, hash: hashShortCode(code)! };
}

/** The stored hash of a typed short code, or undefined when it cannot be a short code. */
export function hashShortCode(typed: string): string | undefined {
  const normalized = normalizeShortCode(typed);
  return normalized && sha256Hex(`webkey:short-code:${normalized}`);
}
