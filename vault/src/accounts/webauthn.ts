import {
  type AuthenticationResponseJSON,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { z } from 'zod';
import type { VaultContext } from '../context.ts';
import { fromBase64Url } from '../crypto/encoding.ts';
import { VaultError } from '../http/vault-error.ts';
import { consumeChallenge, insertChallenge } from './accounts.repository.ts';
import type { ChallengePurpose, PasskeysTable, WebauthnChallengesTable } from './accounts.table.ts';

/** How long a ceremony may take between options and verification. */
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;
const RP_NAME = 'Webkey';

const KNOWN_TRANSPORTS = [
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
] as const;

function isKnownTransport(value: string): value is (typeof KNOWN_TRANSPORTS)[number] {
  return (KNOWN_TRANSPORTS as readonly string[]).includes(value);
}

const base64Url = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[A-Za-z0-9_-]+$/, 'expected base64url');

/** A registration response as the browser's PublicKeyCredential.toJSON() gives it. */
export const registrationResponseSchema = z.object({
  id: base64Url,
  rawId: base64Url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64Url,
    attestationObject: base64Url.max(16_384),
    authenticatorData: base64Url.optional(),
    // Transports are hints; ones this version does not know are dropped, not refused.
    transports: z
      .array(z.string().max(32))
      .max(10)
      .transform((list) => list.filter(isKnownTransport))
      .optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64Url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

/** An authentication response as the browser's PublicKeyCredential.toJSON() gives it. */
export const authenticationResponseSchema = z.object({
  id: base64Url,
  rawId: base64Url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64Url,
    authenticatorData: base64Url,
    signature: base64Url,
    userHandle: base64Url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

/** A passkey refusal; the public detail names the step without helping an attacker. */
export function passkeyRefused(detail: string, cause?: unknown): VaultError {
  return new VaultError('passkey_refused', {
    detail,
    privateDetail: cause instanceof Error ? `${detail}: ${cause.message}` : detail,
    cause,
  });
}

/** The challenge the authenticator signed, read from clientDataJSON. */
function challengeOf(response: RegistrationResponseJSON | AuthenticationResponseJSON): string {
  const bytes = fromBase64Url(response.response.clientDataJSON);
  if (!bytes) throw passkeyRefused('The client data is not base64url.');
  try {
    const clientData = JSON.parse(Buffer.from(bytes).toString('utf8')) as { challenge?: unknown };
    if (typeof clientData.challenge === 'string') return clientData.challenge;
  } catch {
    // fall through to the refusal below
  }
  throw passkeyRefused('The client data carries no challenge.');
}

/**
 * Stores a fresh single-use challenge for a ceremony and returns it (base64url).
 */
export async function issueChallenge(
  ctx: VaultContext,
  purpose: ChallengePurpose,
  binding: { customerId?: string; userHandle?: string; recoveryCodeId?: string } = {},
): Promise<Uint8Array> {
  const challenge = ctx.random(32);
  const row: WebauthnChallengesTable = {
    challenge: Buffer.from(challenge).toString('base64url'),
    purpose,
    customer_id: binding.customerId ?? null,
    user_handle: binding.userHandle ?? null,
    recovery_code_id: binding.recoveryCodeId ?? null,
    expires_at: ctx.clock().getTime() + CHALLENGE_TTL_MS,
  };
  await insertChallenge(ctx.db, row);
  return challenge;
}

/**
 * Consumes the challenge a response was made for. The challenge is deleted whether or not the
 * rest of the verification succeeds: a challenge is good for one attempt only.
 */
export async function takeChallenge(
  ctx: VaultContext,
  response: RegistrationResponseJSON | AuthenticationResponseJSON,
  purpose: ChallengePurpose,
): Promise<WebauthnChallengesTable> {
  const challenge = challengeOf(response);
  const row = await consumeChallenge(ctx.db, challenge, purpose);
  if (!row) throw passkeyRefused('The challenge is unknown or was already used.');
  if (row.expires_at <= ctx.clock().getTime()) throw passkeyRefused('The challenge has expired.');
  return row;
}

/** Registration options for a new passkey: discoverable, user verification required. */
export async function registrationOptions(
  ctx: VaultContext,
  input: {
    challenge: Uint8Array;
    userHandle: string;
    userName: string;
    exclude: { id: string; transports: string }[];
  },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: RP_NAME,
    rpID: ctx.rpId,
    userID: fromBase64Url(input.userHandle) as Uint8Array<ArrayBuffer>,
    userName: input.userName,
    userDisplayName: input.userName,
    challenge: input.challenge as Uint8Array<ArrayBuffer>,
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    excludeCredentials: input.exclude.map((passkey) => ({
      id: passkey.id,
      transports: JSON.parse(passkey.transports),
    })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    supportedAlgorithmIDs: [-7, -257],
  });
}

const MAX_CREDENTIAL_ID_BYTES = 1023;

/**
 * Verifies a registration response against its consumed challenge (WebAuthn L3 section 7.1:
 * type, challenge, origin, RP id hash, UP and UV flags, algorithm, attestation "none", the
 * credential id's length) and returns the passkey row to store.
 */
export async function verifyRegistration(
  ctx: VaultContext,
  response: RegistrationResponseJSON,
  challenge: WebauthnChallengesTable,
  owner: { customerId: string; name: string },
): Promise<PasskeysTable> {
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge.challenge,
      expectedOrigin: ctx.origin,
      expectedRPID: ctx.rpId,
      requireUserVerification: true,
      supportedAlgorithmIDs: [-7, -257],
    });
  } catch (error) {
    throw passkeyRefused('The passkey registration could not be verified.', error);
  }
  if (!verification.verified)
    throw passkeyRefused('The passkey registration could not be verified.');
  const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
  // WebAuthn L3 section 7.1 step 26: longer credential ids are refused.
  if (Buffer.from(credential.id, 'base64url').length > MAX_CREDENTIAL_ID_BYTES)
    throw passkeyRefused('The passkey credential id is too long.');
  const now = ctx.clock().getTime();
  return {
    id: credential.id,
    customer_id: owner.customerId,
    public_key: credential.publicKey,
    counter: credential.counter,
    transports: JSON.stringify(credential.transports ?? []),
    device_type: credentialDeviceType,
    backed_up: credentialBackedUp ? 1 : 0,
    name: owner.name,
    created_at: now,
    last_used_at: null,
  };
}
