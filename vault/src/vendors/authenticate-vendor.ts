import {
  CLIENT_ASSERTION_ALGORITHMS,
  CLIENT_ASSERTION_JWT_TYPE,
  MAX_ASSERTION_LIFETIME_SECONDS,
  type VendorMetadata,
} from '@webkey/protocol';
import {
  createLocalJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
} from 'jose';
import type { VaultContext } from '../context.ts';
import { verifyJwt } from '../crypto/jwt-verify.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { preparedQuery } from '../db/prepared.ts';
import type { Db } from '../db/schema.ts';
import { VaultError } from '../http/vault-error.ts';
import type { VendorRegistry } from './vendor-registry.ts';

/** A vendor that proved possession of a key in its metadata. */
export interface AuthenticatedVendor {
  id: string;
  name: string;
  webhookUri?: string;
  /** The assertion's id, to be recorded by {@link recordAssertion} in the request's transaction. */
  assertion: { jti: string; expiresAt: number };
  /**
   * The vendor's keys, from the document the assertion verified against: what else the request
   * carries signed (a deposit) is checked against the same keys, with no second fetch to fail.
   */
  keys: JWTVerifyGetKey;
  /**
   * Marks the vendor's document as one that did real work (VendorRegistry.confirm), once the
   * request succeeded: a verified signature alone is no proof, anyone can publish keys of their
   * own.
   */
  confirm(): void;
}

/**
 * Key sets by metadata document (also used to verify what vendors sign, such as deposits): importing keys is costly, and the registry hands out the same
 * document object for as long as it caches it.
 */
const keySets = new WeakMap<VendorMetadata, ReturnType<typeof createLocalJWKSet>>();

function keySetOf(vendor: VendorMetadata): ReturnType<typeof createLocalJWKSet> {
  let keySet = keySets.get(vendor);
  if (!keySet) {
    keySet = createLocalJWKSet(vendor.jwks as JSONWebKeySet);
    keySets.set(vendor, keySet);
  }
  return keySet;
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
 * exactly this vault's issuer, a short lifetime, and a signature by a key in the vendor's
 * metadata. The caller must then {@link recordAssertion} in the transaction that does the work,
 * so a replayed `jti` undoes it and one commit covers both.
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
  let claims: JWTPayload;
  try {
    claims = decodeJwt(assertion);
    if (typeof claims.iss !== 'string' || claims.iss !== claims.sub)
      throw new Error('iss must equal sub');
    vendorId = claims.iss;
  } catch (error) {
    throw refused('malformed assertion', error);
  }
  // Checked before the vendor's document is fetched, so an assertion that could never pass
  // (another vault's, expired, reused as a long-lived token) costs no request to its URL.
  const unsigned = claimsProblem(claims, ctx);
  if (unsigned) throw refused(unsigned);
  let metadata = await registry.get(vendorId).catch((error: unknown) => {
    throw refused(`vendor metadata unusable: ${(error as Error).message}`, error);
  });
  const verify = (vendor: VendorMetadata) =>
    verifyJwt(assertion, keySetOf(vendor), {
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
    result = await verify(metadata);
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSNoMatchingKey))
      throw refused('assertion does not verify', error);
    // The vendor may have rotated its key since we cached its metadata.
    metadata = await registry.get(vendorId, { refresh: true }).catch((e: unknown) => {
      throw refused('vendor metadata unusable', e);
    });
    try {
      result = await verify(metadata);
    } catch (retryError) {
      throw refused('assertion does not verify', retryError);
    }
  }
  // The same claims, now signed (verifyJwt has also checked exp, nbf, iss, sub and aud).
  const signed = claimsProblem(result.payload, ctx);
  if (signed) throw refused(signed);
  const { exp, jti } = result.payload as { exp: number; jti: string };
  // Refused as a replay whatever it comes with. The work's transaction records the jti (the
  // atomic check); without this look, an assertion replayed with a request that never reaches a
  // transaction (an unknown key, say) would get that request's answer instead.
  if ((await assertionSeen.run(ctx.db, { vendorId, jti })).rows.length > 0)
    throw refused('assertion jti replayed');
  return {
    id: vendorId,
    name: metadata.name,
    ...(metadata.webhook_uri ? { webhookUri: metadata.webhook_uri } : {}),
    // Kept for as long as the assertion verifies: `exp` may be fractional (RFC 7519 NumericDate),
    // and verification compares it with whole seconds, accepting it until ceil(exp) + skew.
    assertion: { jti, expiresAt: (Math.ceil(exp) + CLOCK_SKEW_SECONDS) * 1000 },
    keys: keySetOf(metadata),
    confirm: () => registry.confirm(vendorId, metadata),
  };
}

/** What disqualifies an assertion's claims, beyond what verifyJwt checks; undefined if nothing. */
function claimsProblem(claims: JWTPayload, ctx: VaultContext): string | undefined {
  const { iat, exp, jti, aud } = claims;
  // One audience only: an assertion naming several vaults could be replayed at each of them,
  // since each keeps its own replay record (RFC 7523bis section 4).
  if (aud !== ctx.origin) return 'aud must be exactly this vault';
  if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128)
    return 'jti missing or too short';
  if (typeof iat !== 'number' || typeof exp !== 'number') return 'iat and exp are required';
  const now = Math.floor(ctx.clock().getTime() / 1000);
  if (exp <= now - CLOCK_SKEW_SECONDS) return 'assertion expired';
  if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS) return 'assertion lives too long';
  if (iat > now + CLOCK_SKEW_SECONDS) return 'assertion issued in the future';
  return undefined;
}

const assertionSeen = preparedQuery<{ vendorId: string; jti: string }, { jti: string }>((db, p) =>
  db
    .selectFrom('assertion_jtis')
    .select('jti')
    .where('vendor_id', '=', p.vendorId)
    .where('jti', '=', p.jti),
);

const insertAssertion = preparedQuery<{ vendorId: string; jti: string; expiresAt: number }, never>(
  (db, p) =>
    db
      .insertInto('assertion_jtis')
      .values({ vendor_id: p.vendorId, jti: p.jti, expires_at: p.expiresAt }),
);

/**
 * Runs an authenticated vendor's request and, if it fails in any way (a refusal, 429, 400, an
 * error), spends its assertion all the same, so that no answer leaves it usable again (RFC 7523
 * section 3). Successful work records the assertion itself, inside the transaction that does the
 * work; a failure may have recorded it already (a refusal audited for the customer), or rolled
 * that record back with the rest. Success also confirms the vendor's document
 * ({@link AuthenticatedVendor.confirm}).
 *
 * @example
 * return c.json(await spendingAssertion(ctx, vendor, () => redeemWebkey(ctx, ...)));
 */
export async function spendingAssertion<T>(
  ctx: VaultContext,
  vendor: AuthenticatedVendor,
  work: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    // Already recorded (or the database failing): the work's own error is the answer.
    await recordAssertion(ctx.db, vendor).catch(() => undefined);
    throw error;
  }
  vendor.confirm();
  return result;
}

/**
 * Records a vendor's assertion id; refuses (invalid_client) one seen before. The record lives in
 * the database, so replay is refused across processes and vault instances.
 *
 * @example
 * await inCustomerTransaction(ctx, id, async ({ trx }) => { await recordAssertion(trx, vendor); ... });
 */
export async function recordAssertion(db: Db, vendor: AuthenticatedVendor): Promise<void> {
  try {
    await insertAssertion.run(db, {
      vendorId: vendor.id,
      jti: vendor.assertion.jti,
      expiresAt: vendor.assertion.expiresAt,
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw refused('assertion jti replayed');
    throw error;
  }
}
