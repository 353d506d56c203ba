import { timingSafeEqual } from 'node:crypto';
import { isVendorIdSyntax, type RedemptionResponse, WEBKEY_JWT_TYPE } from '@webkey/protocol';
import { decodeJwt, errors as joseErrors } from 'jose';
import { type CustomerScope, inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { open, seal } from '../crypto/aead.ts';
import { customerKeyFromRow } from '../crypto/data-keys.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import { newId } from '../crypto/ids.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/schema.ts';
import { openGrant } from '../grants/open-grant.ts';
import { VaultError } from '../http/vault-error.ts';
import { admitCodeAttempt } from '../limits/failure-limits.ts';
import type { VaultSigner } from '../signing/signing-keys.ts';
import { auditRefusal } from '../vendors/audit-refusal.ts';
import { type AuthenticatedVendor, recordAssertion } from '../vendors/authenticate-vendor.ts';
import { pairwiseSubject, readGrantedData } from './granted-data.ts';
import { hashShortCode } from './short-codes.ts';
import { webkeyStatus } from './webkey-summary.ts';
import { consumeWebkeyUse, findWebkey, findWebkeyByShortCode } from './webkeys.repository.ts';
import type { WebkeysTable } from './webkeys.table.ts';

/** How long a redemption's Idempotency-Key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** Why a redemption was refused, as the customer's audit log records it. */
export type RefusalReason = 'expired' | 'revoked' | 'used_up' | 'not_for_this_vendor';

/**
 * The one refusal every unredeemable key gets, whatever the reason: the same status and body,
 * so a vendor (or a thief holding a stolen code) learns nothing about keys it cannot redeem.
 */
function refusal(reason: string): VaultError {
  return new VaultError('webkey_refused', { privateDetail: `web key refused: ${reason}` });
}

/** A refusal, as the customer transaction returns it (committed: the assertion stays spent). */
class Refused {
  constructor(readonly reason: RefusalReason) {}
}

function refusalReason(
  row: WebkeysTable,
  vendorId: string,
  now: number,
): RefusalReason | undefined {
  const status = webkeyStatus(row, now);
  if (status === 'revoked') return 'revoked';
  if (status === 'expired') return 'expired';
  if (row.audience !== null && row.audience !== vendorId) return 'not_for_this_vendor';
  if (status === 'used') return 'used_up';
  return undefined;
}

/**
 * The vendor as a grant records it: its webhook URL only when it passes the same rules as a
 * vendor id (https, or loopback http in development mode); deliveries are guarded again.
 */
function webhookTarget(vendor: AuthenticatedVendor, devMode: boolean): AuthenticatedVendor {
  if (vendor.webhookUri && isVendorIdSyntax(vendor.webhookUri, devMode)) return vendor;
  const { webhookUri: _dropped, ...rest } = vendor;
  return rest;
}

/** What the vendor presented: the key itself, or its short code. */
export type Presented = { key: string } | { code: string };

function requestHash(presented: Presented): string {
  return sha256Hex(
    'key' in presented
      ? `key:${presented.key}`
      : `code:${hashShortCode(presented.code) ?? presented.code}`,
  );
}

function idempotencyContext(vendorId: string, idempotencyKey: string): string {
  return `webkey:idempotency:v1:${vendorId}:${idempotencyKey}`;
}

/**
 * The stored key a vendor presented, when the vault issued it. A key is recognised by its exact
 * bytes: the SHA-256 of the compact JWS, kept at issuance, must match, and the key that signed it
 * must still verify (a signing key past its rotation grace ends its keys early). Matching bytes
 * prove everything a signature check would (this vault signed exactly this header and these
 * claims) without a signature verification per redemption. Other bytes are verified by
 * signature: the copy a short-code redemption answers with (signed anew, so other bytes), and
 * keys issued before the vault kept the hash. An expired key is still recognised, so its
 * customer sees the attempt.
 */
async function findStoredKey(
  ctx: VaultContext,
  signer: VaultSigner,
  presented: Presented,
): Promise<WebkeysTable | undefined> {
  if ('code' in presented) {
    const hash = hashShortCode(presented.code);
    return hash ? findWebkeyByShortCode(ctx.db, hash) : undefined;
  }
  const jti = unverifiedJti(presented.key);
  const row = jti === undefined ? undefined : await findWebkey(ctx.db, jti);
  if (!row) return undefined;
  if (row.token_hash !== null && sameHash(row.token_hash, sha256Hex(presented.key))) {
    return (await signer.verifies(row.kid)) ? row : undefined;
  }
  return (await verifiedJti(signer, presented.key)) === row.id ? row : undefined;
}

/** The `jti` a compact JWT claims, unverified: only to look up the key it may be. */
function unverifiedJti(token: string): string | undefined {
  try {
    const { jti } = decodeJwt(token);
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

function sameHash(storedHex: string, presentedHex: string): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  const presented = Buffer.from(presentedHex, 'hex');
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

/** The `jti` of a key verified by its signature (expired keys included), or undefined. */
async function verifiedJti(signer: VaultSigner, token: string): Promise<unknown> {
  try {
    return (await signer.verify(token, WEBKEY_JWT_TYPE, { requiredClaims: ['jti', 'exp', 'iat'] }))
      .payload.jti;
  } catch (error) {
    return error instanceof joseErrors.JWTExpired ? error.payload.jti : undefined;
  }
}

/** A remembered answer under a vendor's Idempotency-Key, if one is live. */
async function findRemembered(db: Db, vendorId: string, idempotencyKey: string, now: number) {
  const stored = await db
    .selectFrom('idempotency_records')
    .innerJoin('customers', 'customers.id', 'idempotency_records.customer_id')
    .select([
      'request_hash',
      'response',
      'customer_id',
      'expires_at',
      'customers.data_key',
      'customers.master_key_id',
    ])
    .where('vendor_id', '=', vendorId)
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  return stored && stored.expires_at > now ? stored : undefined;
}

/**
 * The answer remembered under this vendor's Idempotency-Key: the same answer for the same
 * request, 422 for a different one, undefined when there is none.
 */
async function replay(
  ctx: VaultContext,
  db: Db,
  vendor: AuthenticatedVendor,
  idempotencyKey: string,
  hash: string,
): Promise<RedemptionResponse | undefined> {
  const stored = await findRemembered(db, vendor.id, idempotencyKey, ctx.clock().getTime());
  if (!stored) return undefined;
  if (stored.request_hash !== hash) throw new VaultError('idempotency_key_reused');
  const dataKey = customerKeyFromRow(ctx.keyring, stored.customer_id, stored);
  const text = open(dataKey, stored.response, idempotencyContext(vendor.id, idempotencyKey));
  return JSON.parse(Buffer.from(text).toString('utf8'));
}

/**
 * Redeems a web key for an authenticated vendor. In one customer transaction: check the key,
 * take one use (atomically), read exactly the granted data, append the "key redeemed" audit
 * entry, and remember the answer under the vendor's Idempotency-Key. A refused key's transaction
 * commits too: the refusal audited for its customer with the reason, and the vendor's assertion
 * recorded (a rollback would leave it usable until recorded again); the vendor gets the one
 * indistinguishable refusal. When anything else fails the caller spends the assertion
 * (spendingAssertion).
 *
 * @example
 * const answer = await redeemWebkey(ctx, signer, vendor, { key: jws }, 'retry-1', meta);
 */
export async function redeemWebkey(
  ctx: VaultContext,
  signer: VaultSigner,
  vendor: AuthenticatedVendor,
  presented: Presented,
  idempotencyKey: string | undefined,
  meta: RequestMeta,
): Promise<RedemptionResponse> {
  const hash = requestHash(presented);
  if (idempotencyKey) {
    const previous = await replay(ctx, ctx.db, vendor, idempotencyKey, hash);
    if (previous) {
      // Spent before answering, so a replayed assertion is refused as such.
      await recordAssertion(ctx.db, vendor);
      return previous;
    }
  }
  // Short codes can be guessed (keys cannot be forged): failures are budgeted. An attempt counts
  // as a failure unless the code is redeemed, a refused code like an unknown one: were refused
  // codes not counted, the budget running out (or not) would tell a guesser which of its
  // guesses name real keys.
  const attempt =
    'code' in presented
      ? await admitCodeAttempt(ctx.db, vendor.id, meta.ip, ctx.clock().getTime())
      : undefined;
  const row = await findStoredKey(ctx, signer, presented);
  if (!row) {
    ctx.metrics.refusals.inc({ reason: 'unknown' });
    throw refusal('unknown or forged key');
  }
  const scopeItems: string[] = JSON.parse(row.scope);
  // Signed before the transaction: the signer may read its keys, and on SQLite a query outside
  // the transaction's connection would wait for it forever.
  const token = 'key' in presented ? presented.key : await reissueToken(signer, row);
  let outcome: RedemptionResponse | Refused;
  try {
    outcome = await inCustomerTransaction(ctx, row.customer_id, async (scope) => {
      await recordAssertion(scope.trx, vendor);
      // A retry racing its own first attempt waited for this customer's lock: the first
      // attempt's answer, committed meanwhile, is the answer.
      if (idempotencyKey) {
        const previous = await replay(ctx, scope.trx, vendor, idempotencyKey, hash);
        if (previous) return previous;
      }
      const now = ctx.clock().getTime();
      const current = await consumeWebkeyUse(scope.trx, row.id, vendor, now);
      if (!current) {
        // No use taken: find out why, for the customer's log (the vendor learns nothing).
        // Returned, not thrown: the transaction commits, and the assertion stays spent.
        const refused = await findWebkey(scope.trx, row.id);
        const reason = refused ? (refusalReason(refused, vendor.id, now) ?? 'used_up') : 'revoked';
        await auditRefusal(
          ctx,
          scope,
          vendor,
          {
            event: 'key_refused',
            keyId: row.id,
            paths: scopeItems,
            purpose: row.purpose,
            meta,
            reason,
            at: now,
          },
          // Another vendor's key: whatever its name says stays out of the customer's log.
          { withVendorName: reason !== 'not_for_this_vendor' },
        );
        return new Refused(reason);
      }
      const granted = await readGrantedData(scope, vendor.id, scopeItems, ctx.clock());
      const grant = current.grant_days
        ? await openGrant(
            scope.trx,
            { ...current, grant_days: current.grant_days },
            webhookTarget(vendor, ctx.devMode),
            now,
            ctx.random,
          )
        : undefined;
      const audit = await appendAudit(ctx, scope, {
        event: 'key_redeemed',
        vendor: { id: vendor.id, name: vendor.name },
        keyId: row.id,
        paths: [...Object.keys(granted.fields), ...Object.keys(granted.claims)],
        purpose: row.purpose,
        meta,
        at: now,
      });
      const answer: RedemptionResponse = {
        redemptionId: newId('red', ctx.random),
        keyId: row.id,
        issuer: ctx.origin,
        subject: pairwiseSubject(scope.dataKey, vendor.id),
        redeemedAt: new Date(now).toISOString(),
        purpose: row.purpose,
        scope: scopeItems,
        usesLeft: current.uses_left,
        auditEntryId: audit.id,
        ...granted,
        key: token,
        ...(grant ? { grant } : {}),
      };
      if (idempotencyKey) await remember(ctx, scope, vendor.id, idempotencyKey, hash, answer, now);
      return answer;
    });
  } catch (error) {
    // The same Idempotency-Key raced itself for two customers' keys: the first answer stands.
    // This transaction's record of the assertion rolled back with it: record it again.
    if (idempotencyKey && isUniqueViolation(error)) {
      const previous = await replay(ctx, ctx.db, vendor, idempotencyKey, hash);
      if (previous) {
        await recordAssertion(ctx.db, vendor);
        await attempt?.release();
        return previous;
      }
    }
    throw error;
  }
  if (outcome instanceof Refused) {
    ctx.metrics.refusals.inc({ reason: outcome.reason });
    throw refusal(outcome.reason);
  }
  ctx.metrics.redemptions.inc();
  await attempt?.release();
  return outcome;
}

async function remember(
  ctx: VaultContext,
  scope: CustomerScope,
  vendorId: string,
  idempotencyKey: string,
  hash: string,
  answer: RedemptionResponse,
  now: number,
): Promise<void> {
  // An expired record the sweeper has not reached yet must not block the key's reuse.
  await scope.trx
    .deleteFrom('idempotency_records')
    .where('vendor_id', '=', vendorId)
    .where('idempotency_key', '=', idempotencyKey)
    .where('expires_at', '<=', now)
    .execute();
  await scope.trx
    .insertInto('idempotency_records')
    .values({
      vendor_id: vendorId,
      idempotency_key: idempotencyKey,
      request_hash: hash,
      customer_id: scope.customerId,
      response: seal(
        scope.dataKey,
        Buffer.from(JSON.stringify(answer), 'utf8'),
        idempotencyContext(vendorId, idempotencyKey),
        ctx.random,
      ),
      created_at: now,
      expires_at: now + IDEMPOTENCY_TTL_MS,
    })
    .execute();
}

/**
 * The signed key for a short-code redemption, so the vendor can verify what it redeemed. The
 * vault keeps no tokens; it signs the same claims again.
 */
async function reissueToken(signer: VaultSigner, row: WebkeysTable): Promise<string> {
  return signer.sign(
    {
      jti: row.id,
      iat: Math.floor(row.issued_at / 1000),
      exp: Math.floor(row.expires_at / 1000),
      scope: JSON.parse(row.scope),
      purpose: row.purpose,
      uses: row.uses_total,
      ...(row.audience ? { aud: row.audience } : {}),
      ...(row.grant_days ? { grant_days: row.grant_days } : {}),
      ...(row.grant_writes ? { grant_writes: JSON.parse(row.grant_writes) } : {}),
    },
    WEBKEY_JWT_TYPE,
  );
}
