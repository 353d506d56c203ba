import { normalizeShortCode } from '@webkey/protocol';
import { WebkeyInvalidError } from './errors.ts';
import { unverifiedIssuer } from './verify-webkey.ts';

/**
 * What a clerk scanned or typed: a web key (the QR code's text, a compact JWS) or a short code
 * (`7KQ2-M9XD-4TRA`, forgiving of case, spaces and look-alike letters).
 */

/** The longest web key a vault accepts (the redemption request's limit). */
const MAX_KEY_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * A classified input. `code` is the text as typed (trimmed); the vault normalizes it.
 *
 * @example
 * const input: RedeemInput = { kind: 'code', code: '7kq2 m9xd 4tra', normalized: '7KQ2M9XD4TRA' };
 */
export type RedeemInput =
  | { kind: 'key'; key: string; issuer: string }
  | { kind: 'code'; code: string; normalized: string };

/**
 * Classifies scanned or typed text. Throws {@link WebkeyInvalidError} when it is neither.
 *
 * @example
 * parseRedeemInput(' eyJhbGciOi...\n') // { kind: 'key', key: 'eyJhbGciOi...', issuer: 'https://vault.example' }
 * parseRedeemInput('7kq2 m9xd 4tra')   // { kind: 'code', code: '7kq2 m9xd 4tra', normalized: '7KQ2M9XD4TRA' }
 */
export function parseRedeemInput(text: string): RedeemInput {
  const trimmed = text.trim();
  if (COMPACT_JWS.test(trimmed)) {
    if (trimmed.length > MAX_KEY_LENGTH) {
      throw new WebkeyInvalidError('This web key is too long to be genuine.', {
        code: 'webkey_invalid',
      });
    }
    return { kind: 'key', key: trimmed, issuer: unverifiedIssuer(trimmed) };
  }
  const normalized = normalizeShortCode(trimmed);
  if (normalized !== undefined) return { kind: 'code', code: trimmed, normalized };
  throw new WebkeyInvalidError('This is neither a web key nor a short code.', {
    code: 'webkey_invalid',
  });
}
