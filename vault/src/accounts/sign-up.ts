import type {
  PublicKeyCredentialCreationOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { createDataKey } from '../crypto/data-keys.ts';
import { toBase64Url } from '../crypto/encoding.ts';
import { newId } from '../crypto/ids.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { admitCeremonyStart } from '../limits/ceremony-limits.ts';
import { insertCustomer, insertPasskey } from './accounts.repository.ts';
import { replaceRecoveryCodes } from './recovery-codes.ts';
import { type NewSession, startSession } from './sessions.ts';
import {
  issueChallenge,
  passkeyRefused,
  registrationOptions,
  takeChallenge,
  verifyRegistration,
} from './webauthn.ts';

/**
 * Starts sign-up: a new user handle and a registration challenge. Nothing about the customer is
 * stored until the passkey is verified; `userName` only labels the passkey in the authenticator.
 * Counted against the client address's ceremony budget.
 */
export async function startSignUp(
  ctx: VaultContext,
  userName: string,
  meta: RequestMeta,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  await admitCeremonyStart(ctx.db, meta.ip, ctx.clock().getTime(), ctx.ceremonyStartsPerMinute);
  const userHandle = toBase64Url(ctx.random(32));
  const challenge = await issueChallenge(ctx, 'sign_up', { userHandle });
  return registrationOptions(ctx, { challenge, userHandle, userName, exclude: [] });
}

/** The outcome of a sign-up: the new customer, their recovery codes (shown once) and a session. */
export interface SignUpResult {
  customerId: string;
  recoveryCodes: string[];
  session: NewSession;
}

/**
 * Finishes sign-up: verifies the passkey, then creates the customer, their data key, the
 * passkey, recovery codes and a session in one transaction.
 */
export async function finishSignUp(
  ctx: VaultContext,
  response: RegistrationResponseJSON,
  passkeyName: string,
  meta: RequestMeta,
  previousSessionSecret?: string,
): Promise<SignUpResult> {
  const challenge = await takeChallenge(ctx, response, 'sign_up');
  const userHandle = challenge.user_handle;
  if (!userHandle) throw passkeyRefused('The challenge is not a sign-up challenge.');
  const customerId = newId('cus', ctx.random);
  const passkey = await verifyRegistration(ctx, response, challenge, {
    customerId,
    name: passkeyName,
  });
  const now = ctx.clock().getTime();
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      // Wrapped inside the transaction, moments before it commits: a master key rotation that
      // waits out in-flight transactions then finds this key (see `keys rotate-master`).
      const dataKey = createDataKey(ctx.keyring, customerId, ctx.random);
      await insertCustomer(trx, {
        id: customerId,
        user_handle: userHandle,
        data_key: dataKey.wrapped,
        master_key_id: dataKey.masterKeyId,
        created_at: now,
        updated_at: now,
      });
      await insertPasskey(trx, passkey);
      const recoveryCodes = await replaceRecoveryCodes(ctx, trx, customerId);
      const session = await startSession(ctx, trx, customerId, previousSessionSecret);
      await appendAudit(
        ctx,
        { trx, customerId, dataKey: dataKey.key },
        { event: 'signed_up', meta },
      );
      return { customerId, recoveryCodes, session };
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw passkeyRefused('This passkey is already registered.', error);
    throw error;
  }
}
