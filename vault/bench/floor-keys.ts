import { createHash } from 'node:crypto';

/** The scope every floor key grants: one record and one derived claim, as the bench's keys. */
export const FLOOR_SCOPE = ['address.home', 'profile.age_over_21'];

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Key `i` of the floor's `complete` stage: shaped and sized like a vault's compact JWS (header,
 * claims, a 64-byte ES256 signature), made the same way by the bench and the floor server. The
 * server recognises it by its bytes (SHA-256), as the vault recognises the keys it issued, so the
 * signature is never checked and need not be real.
 */
export function floorKeyToken(i: number): string {
  const header = base64url(
    JSON.stringify({ alg: 'ES256', kid: 'floor-signing-key', typ: 'webkey+jwt' }),
  );
  const claims = base64url(
    JSON.stringify({
      iss: 'http://127.0.0.1',
      jti: `k${i}`,
      iat: 1_780_000_000,
      exp: 1_780_086_400,
      scope: FLOOR_SCOPE,
      purpose: 'Delivery to your home address',
      uses: 1_000_000_000,
    }),
  );
  const seed = createHash('sha256').update(`floor key ${i}`).digest();
  const signature = base64url(Buffer.concat([seed, createHash('sha256').update(seed).digest()]));
  return `${header}.${claims}.${signature}`;
}

/** A floor key's id (its `jti`), read from its claims unverified: the floor then checks its bytes. */
export function floorKeyId(token: string): string {
  const claims = Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8');
  return (JSON.parse(claims) as { jti: string }).jti;
}
