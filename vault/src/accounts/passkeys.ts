import type {
  PublicKeyCredentialCreationOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { PasskeySummary } from '@webkey/protocol';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { VaultError } from '../http/vault-error.ts';
import {
  countPasskeys,
  deletePasskey,
  findCustomer,
  insertPasskey,
  listPasskeys,
} from './accounts.repository.ts';
import type { PasskeysTable } from './accounts.table.ts';
import { inCustomerTransaction } from './customer-transaction.ts';
import {
  issueChallenge,
  passkeyRefused,
  registrationOptions,
  takeChallenge,
  verifyRegistration,
} from './webauthn.ts';

/** A passkey as shown to its owner. */
export function summarizePasskey(row: PasskeysTable): PasskeySummary {
  return {
    id: row.id,
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
    backedUp: row.backed_up === 1,
    deviceType: row.device_type,
    transports: JSON.parse(row.transports),
  };
}

/** The signed-in customer's passkeys, oldest first. */
export async function listCustomerPasskeys(
  ctx: VaultContext,
  customerId: string,
): Promise<PasskeySummary[]> {
  return (await listPasskeys(ctx.db, customerId)).map(summarizePasskey);
}

/** Registration options for one more passkey on an existing account. */
export async function startAddPasskey(
  ctx: VaultContext,
  customerId: string,
  userName: string,
  purpose: 'add_passkey' | 'recover' = 'add_passkey',
  recoveryCodeId?: string,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const customer = await findCustomer(ctx.db, customerId);
  if (!customer) throw new VaultError('unauthenticated');
  const challenge = await issueChallenge(ctx, purpose, {
    customerId,
    ...(recoveryCodeId ? { recoveryCodeId } : {}),
  });
  return registrationOptions(ctx, {
    challenge,
    userHandle: customer.user_handle,
    userName,
    exclude: await listPasskeys(ctx.db, customerId),
  });
}

/**
 * Verifies and stores one more passkey for the customer the challenge was issued to, audited
 * (`passkey_added`, its name as the reason) in the same transaction.
 */
export async function finishAddPasskey(
  ctx: VaultContext,
  customerId: string,
  response: RegistrationResponseJSON,
  name: string,
  meta: RequestMeta,
): Promise<PasskeySummary> {
  const challenge = await takeChallenge(ctx, response, 'add_passkey');
  if (challenge.customer_id !== customerId) {
    throw passkeyRefused('The challenge was issued to another account.');
  }
  const passkey = await verifyRegistration(ctx, response, challenge, { customerId, name });
  try {
    await inCustomerTransaction(ctx, customerId, async (scope) => {
      await insertPasskey(scope.trx, passkey);
      await appendAudit(ctx, scope, { event: 'passkey_added', meta, reason: passkey.name });
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw passkeyRefused('This passkey is already registered.', error);
    throw error;
  }
  return summarizePasskey(passkey);
}

/**
 * Removes a passkey, never the last one: the count is checked under a lock on the customer's
 * row, so two concurrent removals cannot leave an account with no way in. Audited
 * (`passkey_removed`, its name as the reason).
 */
export async function removePasskey(
  ctx: VaultContext,
  customerId: string,
  passkeyId: string,
  meta: RequestMeta,
): Promise<void> {
  await inCustomerTransaction(ctx, customerId, async (scope) => {
    const { trx } = scope;
    const removed = (await listPasskeys(trx, customerId)).find((p) => p.id === passkeyId);
    if (!removed) {
      throw new VaultError('not_found', { detail: 'You have no passkey with this id.' });
    }
    if ((await countPasskeys(trx, customerId)) <= 1) throw new VaultError('last_passkey');
    await deletePasskey(trx, customerId, passkeyId);
    await appendAudit(ctx, scope, { event: 'passkey_removed', meta, reason: removed.name });
  });
}
