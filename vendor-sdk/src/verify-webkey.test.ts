import { WEBKEY_JWT_TYPE } from '@webkey/protocol';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebkeyInvalidError } from './errors.ts';
import { harness } from './test-support.ts';

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

/**
 * Forged and malformed keys must fail locally, before any redemption request: RFC 8725
 * section 2.1 (alg none), 2.2 (HMAC with a public key as the secret), 3.11 (explicit typing).
 */
describe('local verification of web keys', () => {
  async function expectRefusedLocally(
    forge: (issued: { key: string; claims: object; issuer: string }) => Promise<string> | string,
  ) {
    const { vault, client } = await harness();
    const issued = await vault.issueWebkey({ scope: ['profile'] });
    const forged = await forge({ key: issued.key, claims: issued.claims, issuer: vault.issuer });
    const error = await client.redeem(forged).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyInvalidError);
    expect(error).toMatchObject({ code: 'webkey_invalid' });
    expect(vault.redemptions).toEqual([]);
    return error as WebkeyInvalidError;
  }

  it('refuses a key whose payload was altered', async () => {
    await expectRefusedLocally(({ key, claims }) => {
      const [header, , signature] = key.split('.');
      const widened = { ...claims, scope: ['profile', 'identity_document.passport'] };
      return `${header}.${encode(widened)}.${signature}`;
    });
  });

  it('refuses alg none', async () => {
    const error = await expectRefusedLocally(
      ({ claims }) => `${encode({ alg: 'none', typ: WEBKEY_JWT_TYPE })}.${encode(claims)}.`,
    );
    expect(error.detail).toMatch(/ERR_JOSE_ALG_NOT_ALLOWED/);
  });

  it('refuses HS256 (a public key used as an HMAC secret)', async () => {
    await expectRefusedLocally(async ({ claims }) =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'HS256', typ: WEBKEY_JWT_TYPE })
        .sign(new TextEncoder().encode('the vault public key, used as a secret')),
    );
  });

  it('refuses a JWT of another type signed by the vault', async () => {
    const { vault, client } = await harness();
    const { key } = await vault.issueWebkey({ header: { typ: 'JWT' } });
    await expect(client.redeem(key)).rejects.toBeInstanceOf(WebkeyInvalidError);
    expect(vault.redemptions).toEqual([]);
  });

  it("refuses a key signed by someone else with the vault's kid", async () => {
    await expectRefusedLocally(async ({ key, claims }) => {
      const header = JSON.parse(Buffer.from(key.split('.')[0]!, 'base64url').toString());
      const { privateKey } = await generateKeyPair('ES256');
      return new SignJWT({ ...claims }).setProtectedHeader(header).sign(privateKey);
    });
  });

  it('refuses a key with malformed claims', async () => {
    const { vault, client } = await harness();
    const { key } = await vault.issueWebkey({ claims: { scope: [] } });
    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyInvalidError);
    expect((error as WebkeyInvalidError).detail).toMatch(/scope/);
    expect(vault.redemptions).toEqual([]);
  });

  it.each([
    ['an item outside the grammar', { scope: ['../../etc'] }, /scope\.0: not a record path/],
    ['a path in another spelling', { scope: ['PROFILE'] }, /scope\.0: not a record path/],
    ['a repeated item', { scope: ['profile', 'profile'] }, /scope: scope items must be unique/],
    [
      'two age claims',
      { scope: ['profile.age_over_18', 'profile.age_over_21'] },
      /scope: at most one/,
    ],
    ['an empty purpose', { purpose: '' }, /purpose/],
    ['an untrimmed purpose', { purpose: ' Delivery ' }, /purpose: no leading or trailing/],
    ['a purpose over 200 characters', { purpose: 'x'.repeat(201) }, /purpose/],
  ])(
    'refuses a key whose claims break the ranges of protocol 5.1 (%s), sending nothing',
    async (_, claims, detail) => {
      const { vault, client } = await harness();
      const { key } = await vault.issueWebkey({ claims });
      const error = await client.redeem(key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WebkeyInvalidError);
      expect(error).toMatchObject({
        code: 'webkey_invalid',
        detail: expect.stringMatching(detail),
      });
      expect(vault.redemptions).toEqual([]);
    },
  );

  it('refuses text that is neither a key nor a short code, sending nothing', async () => {
    const { client, fetches } = await harness();
    for (const text of ['hello', 'https://example.com/?q=1', 'a.b.c', '7KQ2-M9XD-4TRU']) {
      await expect(client.redeem(text)).rejects.toBeInstanceOf(WebkeyInvalidError);
    }
    expect(fetches).toEqual([]);
  });
});
