import { describe, expect, it } from 'vitest';
import { InvalidRequestError, UntrustedIssuerError, VaultResponseError } from './errors.ts';
import { HOME, harness } from './test-support.ts';

describe('VendorClient.redeem with a short code', () => {
  it('asks the only trusted issuer and verifies the returned key', async () => {
    const { vault, client, vendor } = await harness({ records: { 'address.home': HOME } });
    const { code, jti, key } = await vault.issueWebkey({
      scope: ['address.home'],
      aud: vendor.vendorId,
    });
    const typed = code.toLowerCase().replaceAll('-', ' ');

    const redemption = await client.redeem(typed);

    expect(vault.redemptions[0]?.body).toMatchObject({ code: typed });
    expect(vault.redemptions[0]?.body).not.toHaveProperty('key');
    expect(redemption.keyId).toBe(jti);
    expect(redemption.key).toBe(key);
    expect(redemption.field('address.home')).toEqual(HOME);
  });

  it('asks the issuer passed in, if trusted', async () => {
    const { vault, makeClient } = await harness();
    const client = makeClient({ trust: { issuers: ['https://vault.example', vault.issuer] } });
    const { code } = await vault.issueWebkey();
    await expect(client.redeem(code, { issuer: vault.issuer })).resolves.toBeDefined();
    await expect(
      client.redeem(code, { issuer: 'https://untrusted.example' }),
    ).rejects.toBeInstanceOf(UntrustedIssuerError);
  });

  it('asks the caller to name the issuer when several are trusted', async () => {
    const { vault, makeClient, fetches } = await harness();
    const client = makeClient({ trust: { issuers: ['https://vault.example', vault.issuer] } });
    const { code } = await vault.issueWebkey();
    const error = await client.redeem(code).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ code: 'issuer_required' });
    expect((error as Error).message).toMatch(/pass \{ issuer \}/);
    expect(fetches).toEqual([]);
  });

  it('asks the caller to name the issuer under a trust function', async () => {
    const { vault, makeClient } = await harness();
    const client = makeClient({ trust: () => true });
    await expect(client.redeem((await vault.issueWebkey()).code)).rejects.toMatchObject({
      code: 'issuer_required',
    });
  });

  it('refuses an answer whose key id does not match the returned key', async () => {
    const { vault, client } = await harness();
    vault.script(async (request, actions) => {
      const answer = await actions.redeem(request);
      if ('hangUp' in answer) return answer;
      return { ...answer, body: { ...(answer.body as object), keyId: 'another-key-id-000' } };
    });
    const error = await client.redeem((await vault.issueWebkey()).code).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect((error as Error).message).toMatch(/another key id/);
  });

  it('refuses an answer carrying a key that does not verify', async () => {
    const { vault, client } = await harness();
    const forged = await vault.issueWebkey({ header: { typ: 'JWT' } });
    vault.script(async (request, actions) => {
      const answer = await actions.redeem(request);
      if ('hangUp' in answer) return answer;
      return {
        ...answer,
        body: { ...(answer.body as object), key: forged.key, keyId: forged.jti },
      };
    });
    const error = await client.redeem((await vault.issueWebkey()).code).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect((error as Error).message).toMatch(/does not verify/);
  });
});
