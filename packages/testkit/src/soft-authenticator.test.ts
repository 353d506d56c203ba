import type { WebAuthnCredential } from '@simplewebauthn/server';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { SoftAuthenticator } from './index.ts';

const rpID = 'localhost';
const origin = 'http://localhost:7420';

async function register(authenticator: SoftAuthenticator) {
  const options = await generateRegistrationOptions({
    rpName: 'Webkey',
    rpID,
    userName: 'ada@example.com',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
  const response = await authenticator.createCredential(options, { origin });
  const verification = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: origin,
    expectedRPID: rpID,
    requireUserVerification: false,
  });
  return { options, response, verification };
}

async function authenticate(
  authenticator: SoftAuthenticator,
  credential: WebAuthnCredential,
  opts: { requireUserVerification?: boolean; expectedOrigin?: string; origin?: string } = {},
) {
  const options = await generateAuthenticationOptions({
    rpID,
    allowCredentials: [{ id: credential.id }],
  });
  const response = await authenticator.getAssertion(options, { origin: opts.origin ?? origin });
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: opts.expectedOrigin ?? origin,
    expectedRPID: rpID,
    credential,
    requireUserVerification: opts.requireUserVerification ?? true,
  });
}

async function registeredCredential(authenticator: SoftAuthenticator) {
  const { verification } = await register(authenticator);
  if (!verification.verified) throw new Error('registration did not verify');
  return verification.registrationInfo.credential;
}

describe('SoftAuthenticator', () => {
  it('produces a registration that @simplewebauthn/server verifies', async () => {
    const authenticator = new SoftAuthenticator();
    const { options, response, verification } = await register(authenticator);

    expect(verification.verified).toBe(true);
    expect(verification.registrationInfo?.fmt).toBe('none');
    expect(verification.registrationInfo?.userVerified).toBe(true);
    expect(verification.registrationInfo?.credential.counter).toBe(0);
    expect(verification.registrationInfo?.credential.id).toBe(response.id);
    expect(verification.registrationInfo?.credentialDeviceType).toBe('singleDevice');
    expect(verification.registrationInfo?.rpID).toBe(rpID);

    expect(authenticator.credentials).toEqual([
      { id: response.id, rpId: rpID, userHandle: options.user.id, counter: 0 },
    ]);
  });

  it('marks credentials backup eligible when asked', async () => {
    const { verification } = await register(new SoftAuthenticator({ backupEligible: true }));
    expect(verification.registrationInfo?.credentialDeviceType).toBe('multiDevice');
  });

  it('produces assertions that verify, with the counter going 1 then 2', async () => {
    const authenticator = new SoftAuthenticator();
    const credential = await registeredCredential(authenticator);

    const first = await authenticate(authenticator, credential);
    expect(first.verified).toBe(true);
    expect(first.authenticationInfo.newCounter).toBe(1);
    expect(first.authenticationInfo.userVerified).toBe(true);
    credential.counter = first.authenticationInfo.newCounter;

    const second = await authenticate(authenticator, credential);
    expect(second.verified).toBe(true);
    expect(second.authenticationInfo.newCounter).toBe(2);
    expect(authenticator.credentials[0]?.counter).toBe(2);
  });

  it('returns the user handle for discoverable login (empty allowCredentials)', async () => {
    const authenticator = new SoftAuthenticator();
    const { options: regOptions, verification } = await register(authenticator);
    const options = await generateAuthenticationOptions({ rpID });
    const response = await authenticator.getAssertion(options, { origin });

    expect(response.id).toBe(verification.registrationInfo?.credential.id);
    expect(response.response.userHandle).toBe(regOptions.user.id);
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: verification.registrationInfo!.credential,
    });
    expect(result.verified).toBe(true);

    const overridden = await authenticator.getAssertion(options, { origin, userHandle: 'AAAA' });
    expect(overridden.response.userHandle).toBe('AAAA');
  });

  it('without user verification, fails when the server requires it', async () => {
    const authenticator = new SoftAuthenticator({ userVerification: false });
    const credential = await registeredCredential(authenticator);

    await expect(authenticate(authenticator, credential)).rejects.toThrow(/user verification/i);
    const relaxed = await authenticate(authenticator, credential, {
      requireUserVerification: false,
    });
    expect(relaxed.verified).toBe(true);
    expect(relaxed.authenticationInfo.userVerified).toBe(false);
  });

  it('a counter set back (a cloned authenticator) is refused', async () => {
    const authenticator = new SoftAuthenticator();
    const credential = await registeredCredential(authenticator);
    for (let i = 0; i < 2; i++) {
      const result = await authenticate(authenticator, credential);
      credential.counter = result.authenticationInfo.newCounter;
    }
    expect(credential.counter).toBe(2);

    authenticator.setCounter(credential.id, 0);
    await expect(authenticate(authenticator, credential)).rejects.toThrow(/counter/i);
  });

  it('a response made for another origin is refused by the server', async () => {
    const authenticator = new SoftAuthenticator();
    const credential = await registeredCredential(authenticator);
    await expect(
      authenticate(authenticator, credential, { origin: 'http://evil.example' }),
    ).rejects.toThrow(/origin/i);

    const options = await generateRegistrationOptions({ rpName: 'Webkey', rpID, userName: 'bob' });
    const response = await authenticator.createCredential(options, {
      origin: 'http://evil.example',
      rpId: rpID,
    });
    await expect(
      verifyRegistrationResponse({
        response,
        expectedChallenge: options.challenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
      }),
    ).rejects.toThrow(/origin/i);
  });

  it('refuses to create a credential listed in excludeCredentials', async () => {
    const authenticator = new SoftAuthenticator();
    const credential = await registeredCredential(authenticator);
    const options = await generateRegistrationOptions({
      rpName: 'Webkey',
      rpID,
      userName: 'ada@example.com',
      excludeCredentials: [{ id: credential.id }],
    });

    await expect(authenticator.createCredential(options, { origin })).rejects.toMatchObject({
      name: 'InvalidStateError',
    });
    expect(authenticator.credentials).toHaveLength(1);
  });

  it('throws NotAllowedError when no credential fits', async () => {
    const authenticator = new SoftAuthenticator();
    await registeredCredential(authenticator);
    const options = await generateAuthenticationOptions({
      rpID,
      allowCredentials: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    });
    await expect(authenticator.getAssertion(options, { origin })).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
  });
});
