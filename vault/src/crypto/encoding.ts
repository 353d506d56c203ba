import { createHash } from 'node:crypto';

/** Base64url without padding (RFC 4648 section 5). @example toBase64Url(new Uint8Array([255])) // '_w' */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decodes base64url; returns undefined for text that is not canonical base64url. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return toBase64Url(bytes) === text ? new Uint8Array(bytes) : undefined;
}

/** SHA-256 as lowercase hex. @example sha256Hex('abc').slice(0, 8) // 'ba7816bf' */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
