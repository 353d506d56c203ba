import type { IssuedWebkey } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import { GrantRefusedError } from '@webkey/vendor-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVendorApp, type VendorApp } from './support/vendor-app.ts';

describe('standing grants through the SDK', () => {
  let vault: TestVault;
  let dealer: VendorApp;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    dealer = await startVendorApp('Herbst Motors', { issuers: [vault.url] });
  });
  afterAll(async () => {
    await dealer.stop();
    await vault.dispose();
  });

  it('re-reads the corrected address, then gets a typed error once the customer revokes', async () => {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Stale Street'], locality: 'Reno', country: 'US' },
      201,
    );
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Car service', grantDays: 365 },
      201,
    );

    const redemption = await dealer.client.redeem(issued.key);
    expect(redemption.grant?.id).toMatch(/^grt_/);
    const grantId = redemption.grant!.id;

    const corrected = await customer.writeRecord('address.home', {
      lines: ['9 Fresh Avenue'],
      locality: 'Las Vegas',
      country: 'US',
    });
    expect(corrected.status).toBe(200);

    const fresh = await dealer.client.grants.read(grantId);
    expect(fresh.field('address.home')?.lines).toEqual(['9 Fresh Avenue']);
    expect(fresh.subject).toBe(redemption.subject);

    await customer.expect('DELETE', `/api/v1/grants/${grantId}`);
    const error = await dealer.client.grants.read(grantId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrantRefusedError);
    expect((error as GrantRefusedError).requestId).toMatch(/^req_/);
  });
});
