import {
  CLIENT_ASSERTION_ALGORITHMS,
  CLIENT_ASSERTION_JWT_TYPE,
  MAX_ASSERTION_LIFETIME_SECONDS,
} from '@webkey/protocol';
import {
  createLocalJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { VaultContext } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { VaultError } from '../http/vault-error.ts';
import type { VendorRegistry } from './vendor-registry.ts';

/** A vendor that proved possession of a key in its metadata. */
export interface AuthenticatedVendor {
  id: string;
  name: string;
  webhookUri?: string;
}

/** Tolerated clock difference between vault and vendor. */
const CLOCK_SKEW_SECONDS = 30;

function refused(privateDetail: string, cause?: unknown): VaultError {
  return new VaultError('invalid_client', {
    detail: 'The client assertion was refused.',
    privateDetail,
    cause,
  });
}

/**
 * Authenticates a vendor by its private_key_jwt client assertion (RFC 7523 section 3, RFC 8725):
 * `typ` client-authentication+jwt, an allowed algorithm, `iss` = `sub` = the vendor id, `aud`
 * exactly this vault's issuer, a short lifetime, a signature by a key in the vendor's metadata,
 * and a `jti` never accepted before (the replay record lives in the database, so it holds
 * across processes and instances).
 *
 * @example
 * const vendor = await authenticateVendor(ctx, registry, body.client_assertion);
 */
export async function authenticateVendor(
  ctx: VaultContext,
  registry: VendorRegistry,
  assertion: string,
): Promise<AuthenticatedVendor> {
  let vendorId: string;
  try {
    const claims = decodeJwt(assertion);
    if (typeof claims.iss !== 'string' || claims.iss !== claims.sub)
      throw new Error('iss must equal sub');
    vendorId = claims.iss;
  } catch (error) {
    throw refused('malformed assertion', error);
  }
  let metadata = await registry.get(vendorId).catch((error: unknown) => {
    throw refused(`vendor metadata unusable: ${(error as Error).message}`, error);
  });
  const verify = (jwks: JSONWebKeySet) =>
    jwtVerify(assertion, createLocalJWKSet(jwks), {
      typ: CLIENT_ASSERTION_JWT_TYPE,
      algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
      issuer: vendorId,
      subject: vendorId,
      audience: ctx.origin,
      requiredClaims: ['jti', 'exp', 'iat'],
      currentDate: ctx.clock(),
      clockTolerance: CLOCK_SKEW_SECONDS,
    });
  let result: Awaited<ReturnType<typeof verify>>;
  try {
    result = await verify(metadata.jwks as JSONWebKeySet);
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSNoMatchingKey))
      throw refused('assertion does not verify', error);
    // The vendor may have rotated its key since we cached its metadata.
    metadata = await registry.get(vendorId, { refresh: true }).catch((e: unknown) => {
      throw refused('vendor metadata unusable', e);
    });
    try {
      result = await verify(metadata.jwks as JSONWebKeySet);
    } catch (retryError) {
      throw refused('assertion does not verify', retryError);
    }
  }
  const { iat, exp, jti } = result.payload as { iat: number; exp: number; jti: unknown };
  const now = Math.floor(ctx.clock().getTime() / 1000);
  if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128)
    throw refused('jti missing or too short');
  if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS) throw refused('assertion lives too long');
  if (iat > now + CLOCK_SKEW_SECONDS) throw refused('assertion issued in the future');
  try {
    await ctx.db
      .insertInto('assertion_jtis')
      .values({ vendor_id: vendorId, jti, expires_at: (exp + CLOCK_SKEW_SECONDS) * 1000 })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw refused('assertion jti replayed');
    throw error;
  }
  return {
    id: vendorId,
    name: metadata.name,
    ...(metadata.webhook_uri ? { webhookUri: metadata.webhook_uri } : {}),
  };
}
