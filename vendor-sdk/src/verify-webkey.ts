import type { WebkeyClaims } from '@webkey/protocol';
import { WEBKEY_JWT_TYPE, WEBKEY_SIGNING_ALGORITHMS, webkeyClaimsSchema } from '@webkey/protocol';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { decodeJwt, errors, jwtVerify } from 'jose';
import { WebkeyInvalidError } from './errors.ts';

/**
 * Checks a web key against its vault's published keys before anything is sent: the signature,
 * `alg` pinned to ES256 (no `none`, no HMAC with a public key as secret: RFC 8725 section
 * 3.1), `typ` pinned to `webkey+jwt` (so no other JWT of the vault passes for a key: RFC 8725
 * section 3.11), the issuer, and the claims' shape.
 */

/**
 * A web key whose signature verified.
 *
 * @example
 * const { claims, expired }: VerifiedWebkey = await verifyWebkey(jws, options);
 */
export interface VerifiedWebkey {
  claims: WebkeyClaims;
  /** True when `exp` has passed by the injected clock; the vault still gets to refuse it. */
  expired: boolean;
}

/**
 * The `iss` of a compact JWS, read without verifying anything: only to choose which trust
 * decision and key set apply. Throws {@link WebkeyInvalidError} when it is not a JWT with a
 * string `iss`.
 *
 * @example
 * unverifiedIssuer(scannedText) // 'https://vault.example'
 */
export function unverifiedIssuer(jws: string): string {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(jws);
  } catch (cause) {
    throw new WebkeyInvalidError('This is not a readable web key.', {
      code: 'webkey_invalid',
      detail: cause instanceof Error ? cause.message : String(cause),
      cause,
    });
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') {
    throw new WebkeyInvalidError('This web key names no vault (no "iss" claim).', {
      code: 'webkey_invalid',
    });
  }
  return payload.iss;
}

/**
 * Verifies a web key issued by `issuer` with the vault's keys. An expired key is returned with
 * `expired: true` (its signature did verify); anything else wrong throws
 * {@link WebkeyInvalidError}. Errors fetching the keys pass through unchanged.
 *
 * @example
 * const { claims, expired } = await verifyWebkey(jws, {
 *   issuer: 'https://vault.example',
 *   getKey: directory.keyResolver(metadata),
 *   now: new Date(),
 * });
 */
export async function verifyWebkey(
  jws: string,
  options: { issuer: string; getKey: JWTVerifyGetKey; now: Date },
): Promise<VerifiedWebkey> {
  let payload: JWTPayload;
  let expired = false;
  try {
    ({ payload } = await jwtVerify(jws, options.getKey, {
      algorithms: [...WEBKEY_SIGNING_ALGORITHMS],
      typ: WEBKEY_JWT_TYPE,
      issuer: options.issuer,
      requiredClaims: ['jti', 'iat', 'exp'],
      currentDate: options.now,
    }));
  } catch (error) {
    // jose checks `exp` after the signature, typ, issuer and required claims, so an expired
    // key here is otherwise valid.
    if (error instanceof errors.JWTExpired && error.claim === 'exp') {
      payload = error.payload;
      expired = true;
    } else if (error instanceof errors.JOSEError) {
      throw new WebkeyInvalidError('This web key failed verification; it was not sent.', {
        code: 'webkey_invalid',
        detail: `${error.code}: ${error.message}`,
        cause: error,
      });
    } else {
      throw error;
    }
  }
  const claims = webkeyClaimsSchema.safeParse(payload);
  if (!claims.success) {
    throw new WebkeyInvalidError('This web key has malformed claims; it was not sent.', {
      code: 'webkey_invalid',
      detail: claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    });
  }
  return { claims: claims.data, expired };
}
