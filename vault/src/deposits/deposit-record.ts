import {
  CLIENT_ASSERTION_ALGORITHMS,
  DEPOSIT_JWT_TYPE,
  type DepositClaims,
  type DepositResponse,
  depositClaimsSchema,
} from '@webkey/protocol';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { seal } from '../crypto/aead.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import { newId } from '../crypto/ids.ts';
import { verifyJwt } from '../crypto/jwt-verify.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/schema.ts';
import { findGrant } from '../grants/grants.repository.ts';
import { toProblemIssues } from '../http/problem-issues.ts';
import { VaultError } from '../http/vault-error.ts';
import { auditRefusal } from '../vendors/audit-refusal.ts';
import { type AuthenticatedVendor, recordAssertion } from '../vendors/authenticate-vendor.ts';
import type { DepositsTable } from './deposits.table.ts';

/** What a deposit's sealed parts are bound to: everything about it that never changes. */
export type DepositBinding = Pick<
  DepositsTable,
  | 'id'
  | 'customer_id'
  | 'grant_id'
  | 'vendor_id'
  | 'vendor_name'
  | 'kind'
  | 'ref'
  | 'version'
  | 'received_at'
>;

/**
 * The context a deposit's content and signed JWS are sealed under: its id, customer, and the
 * columns shown beside it in the clear (who sent it, what it is, which version, when), so a
 * changed column (another vendor's name on a receipt) fails to open like a changed ciphertext.
 */
export function depositSealContext(part: 'content' | 'signed', row: DepositBinding): string {
  const bound = [
    row.customer_id,
    row.id,
    row.grant_id,
    row.vendor_id,
    row.vendor_name,
    row.kind,
    row.ref,
    row.version,
    row.received_at,
  ];
  return `webkey:deposit-${part}:v2:${JSON.stringify(bound)}`;
}

/** The context of deposits sealed before 2026-12-03: bound to their customer and id only. */
export function legacyDepositSealContext(
  part: 'content' | 'signed',
  customerId: string,
  id: string,
): string {
  return `webkey:deposit-${part}:v1:${customerId}:${id}`;
}

/** A refusal, as the customer transaction returns it (committed: the assertion stays spent). */
class DepositRefused {
  constructor(
    readonly reason: 'revoked' | 'expired' | 'not_for_this_vendor' | 'kind_not_granted',
  ) {}
}

/** Verifies the vendor's signature on a deposit and its shape; 400 with pointers otherwise. */
async function verifyDeposit(
  ctx: VaultContext,
  vendor: AuthenticatedVendor,
  signed: string,
): Promise<DepositClaims> {
  let payload: unknown;
  try {
    ({ payload } = await verifyJwt(signed, vendor.keys, {
      typ: DEPOSIT_JWT_TYPE,
      algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
      issuer: vendor.id,
      audience: ctx.origin,
      requiredClaims: ['iat', 'jti'],
      currentDate: ctx.clock(),
    }));
  } catch (error) {
    throw new VaultError('invalid_request', {
      detail:
        'The deposit is not a webkey-deposit+jwt signed by a key in your metadata for this vault.',
      errors: [{ pointer: '/deposit', message: 'signature, typ, iss or aud refused' }],
      cause: error,
    });
  }
  const parsed = depositClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    throw new VaultError('invalid_request', {
      detail: 'The deposited record does not match the schema.',
      errors: toProblemIssues(parsed.error.issues),
    });
  }
  return parsed.data;
}

/**
 * Records one vendor may leave waiting in a customer's inbox. A grant that allows deposits would
 * otherwise let its vendor fill the inbox (and the database) without end; the customer makes
 * room by accepting or discarding.
 */
export const MAX_PENDING_DEPOSITS_PER_VENDOR = 200;

async function assertInboxRoom(db: Db, customerId: string, vendorId: string): Promise<void> {
  const row = await db
    .selectFrom('deposits')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('customer_id', '=', customerId)
    .where('vendor_id', '=', vendorId)
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  if (Number(row.count) >= MAX_PENDING_DEPOSITS_PER_VENDOR) {
    throw new VaultError('inbox_full', {
      detail: `The customer's inbox holds ${MAX_PENDING_DEPOSITS_PER_VENDOR} records from you that they have not decided on yet; deposit more once they have.`,
    });
  }
}

/** A deposit already received under this vendor's `jti`, if any. */
function findDepositByJti(db: Db, vendorId: string, jti: string) {
  return db
    .selectFrom('deposits')
    .select(['id', 'ref', 'version', 'signed_hash', 'audit_entry_id'])
    .where('vendor_id', '=', vendorId)
    .where('jti', '=', jti)
    .executeTakeFirst();
}

/**
 * The answer to a deposit whose `jti` the vendor used before: the first answer again when it is
 * the same signed deposit (a retry), 400 when it is another one.
 */
function answerAgain(
  earlier: NonNullable<Awaited<ReturnType<typeof findDepositByJti>>>,
  signedHash: string,
): DepositResponse {
  if (earlier.signed_hash !== signedHash || earlier.audit_entry_id === null) {
    throw new VaultError('invalid_request', {
      detail: 'You sent another deposit with this jti before; every deposit needs its own jti.',
      errors: [{ pointer: '/deposit', message: 'jti already used' }],
    });
  }
  return {
    depositId: earlier.id,
    ref: earlier.ref,
    version: earlier.version,
    status: 'pending',
    auditEntryId: earlier.audit_entry_id,
  };
}

/**
 * A vendor deposits a record it produced (a receipt, an order, a prescription it issued...) into
 * the customer's inbox, under a standing grant that allows that kind. Depositing the same `ref`
 * again makes a new version: a vendor amends its own records and can touch nothing else. The
 * customer accepts or discards it later. Audited in the same transaction; refusals (revoked,
 * expired, another vendor's grant, a kind not granted) get the one grant refusal. The signed
 * deposit's `jti` identifies it: the same signed deposit sent again (the SDK retries a lost
 * answer) gets the first answer and stores nothing, whatever became of the grant since. A
 * refusal's transaction commits too, with the refusal audited and the vendor's assertion
 * recorded; when anything else fails the caller spends the assertion (spendingAssertion).
 *
 * @example
 * const receipt = await depositRecord(ctx, vendor, signedDeposit, meta);
 */
export async function depositRecord(
  ctx: VaultContext,
  vendor: AuthenticatedVendor,
  signed: string,
  meta: RequestMeta,
): Promise<DepositResponse> {
  const claims = await verifyDeposit(ctx, vendor, signed);
  const signedHash = sha256Hex(signed);
  const grant = await findGrant(ctx.db, claims.grant);
  if (!grant) throw new VaultError('grant_refused', { privateDetail: 'deposit: unknown grant' });
  let outcome: DepositResponse | DepositRefused;
  try {
    outcome = await inCustomerTransaction(ctx, grant.customer_id, async (scope) => {
      await recordAssertion(scope.trx, vendor);
      const now = ctx.clock().getTime();
      const refuse = async (reason: DepositRefused['reason']) => {
        // Another vendor's words stay out of the customer's log: the grant's id was all it had,
        // and its title, ref or name could say anything ("your account is locked, call ...").
        const ownGrant = reason !== 'not_for_this_vendor';
        await auditRefusal(
          ctx,
          scope,
          vendor,
          {
            event: 'deposit_refused',
            keyId: grant.webkey_id,
            paths: ownGrant ? [`${claims.kind}:${claims.ref}`] : [],
            purpose: ownGrant ? claims.content.title : null,
            meta,
            reason,
            at: now,
          },
          { withVendorName: ownGrant },
        );
        return new DepositRefused(reason);
      };
      const current = (await findGrant(scope.trx, grant.id)) ?? grant;
      if (current.vendor_id !== vendor.id) return refuse('not_for_this_vendor');
      // A retry (one racing its first attempt waited for this customer's lock) gets the first
      // answer, even if the grant was revoked or expired since.
      const earlier = await findDepositByJti(scope.trx, vendor.id, claims.jti);
      if (earlier) return answerAgain(earlier, signedHash);
      if (current.revoked_at !== null) return refuse('revoked');
      if (current.expires_at <= now) return refuse('expired');
      if (!(JSON.parse(current.writes) as string[]).includes(claims.kind))
        return refuse('kind_not_granted');
      await assertInboxRoom(scope.trx, scope.customerId, vendor.id);
      const previous = await scope.trx
        .selectFrom('deposits')
        .select((eb) => eb.fn.max('version').as('version'))
        .where('customer_id', '=', scope.customerId)
        .where('vendor_id', '=', vendor.id)
        .where('ref', '=', claims.ref)
        .executeTakeFirst();
      const version = Number(previous?.version ?? 0) + 1;
      const id = newId('dep', ctx.random);
      const audit = await appendAudit(ctx, scope, {
        event: 'deposit_received',
        vendor: { id: vendor.id, name: vendor.name },
        keyId: current.webkey_id,
        paths: [`${claims.kind}:${claims.ref}`],
        purpose: claims.content.title,
        meta,
        reason: version === 1 ? 'new' : `version ${version}`,
      });
      const binding: DepositBinding = {
        id,
        customer_id: scope.customerId,
        grant_id: current.id,
        vendor_id: vendor.id,
        vendor_name: vendor.name,
        kind: claims.kind,
        ref: claims.ref,
        version,
        received_at: now,
      };
      const row: DepositsTable = {
        ...binding,
        content: seal(
          scope.dataKey,
          Buffer.from(JSON.stringify(claims.content)),
          depositSealContext('content', binding),
          ctx.random,
        ),
        signed: seal(
          scope.dataKey,
          Buffer.from(signed),
          depositSealContext('signed', binding),
          ctx.random,
        ),
        status: 'pending',
        decided_at: null,
        jti: claims.jti,
        signed_hash: signedHash,
        audit_entry_id: audit.id,
      };
      await scope.trx.insertInto('deposits').values(row).execute();
      return { depositId: id, ref: claims.ref, version, status: 'pending', auditEntryId: audit.id };
    });
  } catch (error) {
    // The same jti raced itself under two customers' grants: the first deposit stands. This
    // transaction's record of the assertion rolled back with it: record it again.
    if (isUniqueViolation(error)) {
      const earlier = await findDepositByJti(ctx.db, vendor.id, claims.jti);
      if (earlier) {
        await recordAssertion(ctx.db, vendor);
        return answerAgain(earlier, signedHash);
      }
    }
    throw error;
  }
  if (outcome instanceof DepositRefused)
    throw new VaultError('grant_refused', { privateDetail: `deposit refused: ${outcome.reason}` });
  return outcome;
}
