import type { RedemptionResponse } from '@webkey/protocol';
import { describe, expect, it } from 'vitest';
import {
  InvalidRequestError,
  VaultResponseError,
  VendorAuthenticationError,
  WebkeyExpiredError,
  WebkeyNotForYouError,
  WebkeyUsedOrRevokedError,
} from './errors.ts';
import { HOME, harness } from './test-support.ts';
import type { TestVault } from './testing/index.ts';
import { json, problem } from './testing/index.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';

describe('refused keys', () => {
  it('still sends an expired key (the vault audits the refusal) and explains the refusal', async () => {
    const { vault, client } = await harness();
    const { key } = await vault.issueWebkey({ expiresIn: -60 });
    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyExpiredError);
    expect(error).toMatchObject({ code: 'webkey_refused', status: 403 });
    expect(vault.redemptions).toHaveLength(1);
  });

  it("still sends another vendor's key and says it is not for us", async () => {
    const { vault, client } = await harness();
    const { key } = await vault.issueWebkey({ aud: 'https://other-shop.example/vendor.json' });
    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyNotForYouError);
    expect(vault.redemptions).toHaveLength(1);
  });

  it('reports a used-up key as used, revoked or unknown, with the request id', async () => {
    const { vault, client } = await harness();
    const { key } = await vault.issueWebkey({ uses: 1 });
    await client.redeem(key);
    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyUsedOrRevokedError);
    expect(error).toMatchObject({ code: 'webkey_refused', status: 403 });
    expect((error as WebkeyUsedOrRevokedError).requestId).toMatch(/^req_/);
    expect((error as Error).message).toMatch(/used up, revoked, or unknown/);
  });

  it('reports a revoked key the same way', async () => {
    const { vault, client } = await harness();
    const { key, jti } = await vault.issueWebkey();
    vault.revoke(jti);
    await expect(client.redeem(key)).rejects.toBeInstanceOf(WebkeyUsedOrRevokedError);
  });

  it('maps invalid_client to VendorAuthenticationError', async () => {
    const { vault, makeClient } = await harness();
    const { privateJwk } = await generateVendorKeyPair(); // not in the vendor metadata
    const error = await makeClient({ privateKey: privateJwk })
      .redeem((await vault.issueWebkey()).key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VendorAuthenticationError);
    expect(error).toMatchObject({ code: 'invalid_client', status: 401 });
    expect((error as VendorAuthenticationError).requestId).toMatch(/^req_/);
  });

  it('maps invalid_request to InvalidRequestError with the vault detail', async () => {
    const { vault, client } = await harness();
    vault.script(() => problem('invalid_request', { detail: 'code: too long' }));
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ code: 'invalid_request', detail: 'code: too long' });
  });
});

/** Makes the vault answer as it would, changed by `change` (a faulty vault). */
function tamper(vault: TestVault, change: (body: RedemptionResponse) => void): void {
  vault.script(async (request, actions) => {
    const answer = await actions.redeem(request);
    if (!('hangUp' in answer)) change(answer.body as RedemptionResponse);
    return answer;
  });
}

describe('answers that break the protocol', () => {
  it('refuses a malformed 200 body', async () => {
    const { vault, client } = await harness();
    vault.script(() => json(200, { fields: 'everything' }));
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({ code: 'unexpected_response', status: 200 });
    expect((error as VaultResponseError).requestId).toMatch(/^req_/);
  });

  it('refuses a 200 that is not JSON', async () => {
    const { vault, client } = await harness();
    vault.script(() => ({ status: 200, body: '<html>', headers: { 'content-type': 'text/html' } }));
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toBeInstanceOf(
      VaultResponseError,
    );
  });

  it('refuses a redemption answered in the name of another issuer', async () => {
    const { vault, client } = await harness();
    vault.script(async (request, actions) => {
      const answer = await actions.redeem(request);
      if ('hangUp' in answer) return answer;
      return { ...answer, body: { ...(answer.body as object), issuer: 'https://evil.example' } };
    });
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toThrow(
      /answered as "https:\/\/evil.example"/,
    );
  });

  it('refuses fields outside the key scope', async () => {
    const { vault, client } = await harness({
      records: { 'address.home': HOME, profile: { legalName: 'Ada' } },
    });
    vault.script(async (request, actions) => {
      const answer = await actions.redeem(request);
      if ('hangUp' in answer) return answer;
      const body = answer.body as { fields: Record<string, unknown> };
      body.fields.profile = { category: 'profile', versionId: 'v1', value: { legalName: 'Ada' } };
      return answer;
    });
    const error = await client
      .redeem((await vault.issueWebkey({ scope: ['address.home'] })).key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({
      detail: 'fields "profile": not a record path of the scope',
    });
  });

  it('refuses a record sent under the name of a claim in the scope (the whole profile as age_over_21)', async () => {
    const { vault, client } = await harness({ claims: { 'profile.age_over_21': true } });
    tamper(vault, (body) => {
      body.claims = {};
      body.fields['profile.age_over_21'] = {
        category: 'profile',
        versionId: 'ver_1',
        value: { legalName: 'Ada Lovelace', birthDate: '1815-12-10' },
      };
    });
    const error = await client
      .redeem((await vault.issueWebkey({ scope: ['profile.age_over_21'] })).key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({
      detail: 'fields "profile.age_over_21": not a record path of the scope',
    });
  });

  it("refuses a record of another category than its path's", async () => {
    const { vault, client } = await harness({ records: { 'address.home': HOME } });
    tamper(vault, (body) => {
      body.fields['address.home']!.category = 'identity_document';
    });
    const error = await client
      .redeem((await vault.issueWebkey({ scope: ['address.home'] })).key)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({
      detail: 'fields "address.home": a record of category "identity_document", not address',
    });
  });

  it('refuses an answer whose scope or purpose is not the signed one', async () => {
    const { vault, client } = await harness({ records: { 'address.home': HOME } });
    const issue = () => vault.issueWebkey({ scope: ['address.home'], purpose: 'Delivery' });
    tamper(vault, (body) => {
      body.scope = ['address.home', 'profile', 'identity_document.passport'];
    });
    await expect(client.redeem((await issue()).key)).rejects.toThrow(
      /another scope than the key grants/,
    );
    tamper(vault, (body) => {
      body.purpose = 'Marketing, resale to partners';
    });
    const error = await client.redeem((await issue()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect((error as Error).message).toMatch(/another purpose than the key states/);
  });

  it('refuses an answer in which a scope item is not answered exactly once', async () => {
    const { vault, client } = await harness({ records: { 'address.home': HOME } });
    const issue = () => vault.issueWebkey({ scope: ['address.home', 'insurance.primary'] });
    const cases: [(body: RedemptionResponse) => void, string][] = [
      [(body) => body.missing.push('address.home'), '"address.home": answered 2 times, not once'],
      [(body) => body.missing.pop(), '"insurance.primary": answered 0 times, not once'],
      [(body) => body.missing.push('profile'), 'missing "profile": not an item of the scope'],
      [
        (body) => {
          body.claims['insurance.primary'] = true;
        },
        'claims "insurance.primary": not a derived claim of the scope; "insurance.primary": answered 2 times, not once',
      ],
    ];
    for (const [change, detail] of cases) {
      tamper(vault, change);
      const error = await client.redeem((await issue()).key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VaultResponseError);
      expect(error).toMatchObject({ detail });
    }
  });

  it('refuses a standing grant the key does not make', async () => {
    const { vault, client } = await harness();
    tamper(vault, (body) => {
      body.grant = { id: 'grt_1', expiresAt: '2027-11-23T18:00:00.000Z' };
    });
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toThrow(
      /standing grant the key does not make/,
    );
    tamper(vault, (body) => {
      body.grant = { id: 'grt_1', expiresAt: '2027-11-23T18:00:00.000Z', writes: ['receipt'] };
    });
    const grantKey = await vault.issueWebkey({ claims: { grant_days: 30 } });
    await expect(client.redeem(grantKey.key)).rejects.toThrow(/deposits of kinds/);
  });

  it('refuses a discovery document naming another issuer, before sending the key', async () => {
    const { vault, client } = await harness();
    vault.setDiscovery({ issuer: 'https://vault.example' });
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect((error as Error).message).toMatch(/names the issuer "https:\/\/vault.example"/);
    expect(vault.redemptions).toEqual([]);
    expect(vault.requests.some((r) => r.startsWith('GET /jwks'))).toBe(false);
  });

  it('refuses a field value that breaks its category schema when read', async () => {
    const { vault, client } = await harness({ records: { 'address.home': { lines: [] } } });
    const redemption = await client.redeem(
      (await vault.issueWebkey({ scope: ['address.home'] })).key,
    );
    expect(() => redemption.field('address.home')).toThrow(VaultResponseError);
  });
});
