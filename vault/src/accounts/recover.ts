import type {
  PublicKeyCredentialCreationOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { VaultError } from '../http/vault-error.ts';
import { admitRecoveryAttempt } from '../limits/failure-limits.ts';
import {
  deleteCustomerSessions,
  findUnusedRecoveryCode,
  insertPasskey,
  useRecoveryCode,
} from './accounts.repository.ts';
import { inCustomerTransaction } from './customer-transaction.ts';
import { startAddPasskey } from './passkeys.ts';
import { hashRecoveryCode } from './recovery-codes.ts';
import { type NewSession, startSession } from './sessions.ts';
import { passkeyRefused, takeChallenge, verifyRegistration } from './webauthn.ts';

function codeRefused(): VaultError {
  return new VaultError('recovery_code_refused', {
    detail: 'This recovery code is not valid or was already used.',
  });
}

/**
 * Starts account recovery with a recovery code: registration options for a new passkey on the
 * code's account. The code is only checked here; it is spent when the passkey is verified.
 * Unknown codes are budgeted per client address and for the whole vault (429 beyond); a good
 * code is never counted or refused for them, so strangers spending the budgets block nobody's
 * recovery. (Counting only after the lookup leaves a race of a few concurrent guesses past a
 * budget: nothing against 80-bit codes.)
 */
export async function startRecovery(
  ctx: VaultContext,
  code: string,
  userName: string,
  meta: RequestMeta,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const stored = await findUnusedRecoveryCode(ctx.db, hashRecoveryCode(code));
  if (!stored) {
    await admitRecoveryAttempt(ctx.db, meta.ip, ctx.clock().getTime());
    throw codeRefused();
  }
  return startAddPasskey(ctx, stored.customer_id, userName, 'recover', stored.id);
}

/**
 * Finishes recovery: verifies the new passkey, then in one transaction spends the recovery code
 * (once, whatever the concurrency), stores the passkey, ends every other session of the account
 * (whoever holds the lost device is signed out) and starts a new one.
 */
export async function finishRecovery(
  ctx: VaultContext,
  response: RegistrationResponseJSON,
  passkeyName: string,
  meta: RequestMeta,
  /** The session the browser presented, if any: it ends too, whichever account it was of. */
  previousSessionSecret?: string,
): Promise<{ customerId: string; session: NewSession }> {
  const challenge = await takeChallenge(ctx, response, 'recover');
  const customerId = challenge.customer_id;
  const codeId = challenge.recovery_code_id;
  if (!customerId || !codeId) throw passkeyRefused('The challenge is not a recovery challenge.');
  const passkey = await verifyRegistration(ctx, response, challenge, {
    customerId,
    name: passkeyName,
  });
  try {
    return await inCustomerTransaction(ctx, customerId, async (scope) => {
      const { trx } = scope;
      if (!(await useRecoveryCode(trx, codeId, ctx.clock().getTime()))) throw codeRefused();
      await insertPasskey(trx, passkey);
      await deleteCustomerSessions(trx, customerId);
      const session = await startSession(ctx, trx, customerId, previousSessionSecret);
      await appendAudit(ctx, scope, { event: 'signed_in', meta, reason: 'recovery_code' });
      return { customerId, session };
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw passkeyRefused('This passkey is already registered.', error);
    throw error;
  }
}
