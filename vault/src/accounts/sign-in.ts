import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  type PublicKeyCredentialRequestOptionsJSON,
  verifyAuthenticationResponse,
} from '@simplewebauthn/server';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { admitCeremonyStart } from '../limits/ceremony-limits.ts';
import {
  advancePasskeyCounter,
  findCustomer,
  findPasskey,
  listPasskeys,
} from './accounts.repository.ts';
import { inCustomerTransaction } from './customer-transaction.ts';
import { type NewSession, startSession } from './sessions.ts';
import { CHALLENGE_TTL_MS, issueChallenge, passkeyRefused, takeChallenge } from './webauthn.ts';

/**
 * Starts a usernameless passkey sign-in: a challenge with no allowed-credential list, so the
 * authenticator offers the customer's discoverable passkey for this vault. Counted against the
 * client address's ceremony budget.
 */
export async function startSignIn(
  ctx: VaultContext,
  meta: RequestMeta,
  /** Signing in again as this customer (to confirm it is them): only their passkeys will do. */
  customerId?: string,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  await admitCeremonyStart(ctx.db, meta.ip, ctx.clock().getTime(), ctx.ceremonyStartsPerMinute);
  const challenge = await issueChallenge(ctx, 'sign_in', customerId ? { customerId } : {});
  const passkeys = customerId ? await listPasskeys(ctx.db, customerId) : [];
  return generateAuthenticationOptions({
    rpID: ctx.rpId,
    challenge: challenge as Uint8Array<ArrayBuffer>,
    timeout: CHALLENGE_TTL_MS,
    userVerification: 'required',
    allowCredentials: passkeys.map((passkey) => ({
      id: passkey.id,
      transports: JSON.parse(passkey.transports),
    })),
  });
}

/**
 * Finishes sign-in (WebAuthn L3 section 7.2). Beyond what @simplewebauthn/server checks, the
 * vault consumes the challenge (single use), requires the credential to belong to the account
 * named by the user handle (step 6), refuses sign-counter regressions and records the new
 * counter atomically, then rotates the session.
 */
export async function finishSignIn(
  ctx: VaultContext,
  response: AuthenticationResponseJSON,
  meta: RequestMeta,
  previousSessionSecret?: string,
): Promise<{ customerId: string; session: NewSession }> {
  const challenge = await takeChallenge(ctx, response, 'sign_in');
  if (response.id !== response.rawId) throw passkeyRefused('The credential id is inconsistent.');
  const passkey = await findPasskey(ctx.db, response.id);
  if (!passkey) throw passkeyRefused('This passkey is not registered with this vault.');
  if (challenge.customer_id !== null && challenge.customer_id !== passkey.customer_id) {
    throw passkeyRefused('This passkey belongs to another account.');
  }
  const customer = await findCustomer(ctx.db, passkey.customer_id);
  if (!customer) throw passkeyRefused('This passkey is not registered with this vault.');
  // Step 6: a sign-in that named no account beforehand (a discoverable credential) learns the
  // account from the user handle, which must then be present; when present it must match.
  const userHandle = response.response.userHandle;
  if (userHandle === undefined && challenge.customer_id === null) {
    throw passkeyRefused('The passkey did not name its account (no user handle).');
  }
  if (userHandle !== undefined && userHandle !== customer.user_handle) {
    throw passkeyRefused('This passkey belongs to another account.');
  }
  let newCounter: number;
  let backedUp: boolean;
  let deviceType: string;
  try {
    const verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge.challenge,
      expectedOrigin: ctx.origin,
      expectedRPID: ctx.rpId,
      requireUserVerification: true,
      credential: {
        id: passkey.id,
        publicKey: passkey.public_key as Uint8Array<ArrayBuffer>,
        counter: passkey.counter,
        transports: JSON.parse(passkey.transports),
      },
    });
    if (!verification.verified) throw new Error('not verified');
    ({ newCounter, credentialBackedUp: backedUp } = verification.authenticationInfo);
    deviceType = verification.authenticationInfo.credentialDeviceType;
  } catch (error) {
    throw passkeyRefused('The passkey signature could not be verified.', error);
  }
  // Step 22: backup eligibility (a multi-device passkey) is fixed at registration; the backup
  // state may change and is recorded.
  if (deviceType !== passkey.device_type)
    throw passkeyRefused('The passkey no longer matches how it was registered.');
  const now = ctx.clock().getTime();
  return inCustomerTransaction(ctx, passkey.customer_id, async (scope) => {
    const advanced = await advancePasskeyCounter(
      scope.trx,
      passkey.id,
      passkey.counter,
      { counter: newCounter, backedUp },
      now,
    );
    if (!advanced) throw passkeyRefused('The passkey was used concurrently; try again.');
    const session = await startSession(ctx, scope.trx, passkey.customer_id, previousSessionSecret);
    await appendAudit(ctx, scope, { event: 'signed_in', meta, reason: 'passkey' });
    return { customerId: passkey.customer_id, session };
  });
}
