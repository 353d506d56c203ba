import { type IssuedWebkey, verifyAuditExport } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import {
  UntrustedIssuerError,
  WebkeyNotForYouError,
  WebkeyUsedOrRevokedError,
} from '@webkey/vendor-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVendorApp, type VendorApp } from './support/vendor-app.ts';

async function customerWith(
  vault: TestVault,
  home: Record<string, unknown>,
): Promise<VaultCustomer> {
  const customer = new VaultCustomer(vault.url);
  await customer.signUp();
  await customer.expect('PUT', '/api/v1/records/address.home', home, 201);
  await customer.expect(
    'PUT',
    '/api/v1/records/profile',
    { legalName: 'Dana Example', birthDate: '1990-04-01' },
    201,
  );
  return customer;
}

function issue(customer: VaultCustomer, body: Record<string, unknown>): Promise<IssuedWebkey> {
  return customer.expect<IssuedWebkey>(
    'POST',
    '/api/v1/webkeys',
    { purpose: 'Glasses order', ...body },
    201,
  );
}

describe('federation: one vendor, two vault providers, no per-vault setup', () => {
  let north: TestVault;
  let south: TestVault;
  let stranger: TestVault;
  let optician: VendorApp;

  beforeAll(async () => {
    [north, south, stranger] = await Promise.all([
      startTestVault('sqlite', { config: { devMode: true } }),
      startTestVault('sqlite', { config: { devMode: true } }),
      startTestVault('sqlite', { config: { devMode: true } }),
    ]);
    optician = await startVendorApp('Acme Optics', { issuers: [north.url, south.url] });
  });
  afterAll(async () => {
    await optician.stop();
    await Promise.all([north.dispose(), south.dispose(), stranger.dispose()]);
  });

  it('redeems keys from both vaults through the SDK and gets typed fields', async () => {
    const ada = await customerWith(north, {
      lines: ['1 North Road'],
      locality: 'Northtown',
      country: 'GB',
    });
    const bo = await customerWith(south, {
      lines: ['2 South Street'],
      locality: 'Southville',
      country: 'NZ',
    });
    const fromNorth = await issue(ada, { scope: ['address.home', 'profile.age_over_21'] });
    const fromSouth = await issue(bo, { scope: ['address.home'] });

    const a = await optician.client.redeem(fromNorth.key);
    expect(a.issuer).toBe(north.url);
    expect(a.field('address.home')?.locality).toBe('Northtown');
    expect(a.claim('profile.age_over_21')).toBe(true);
    expect(a.field('profile')).toBeUndefined();

    const b = await optician.client.redeem(fromSouth.key);
    expect(b.issuer).toBe(south.url);
    expect(b.field('address.home')?.country).toBe('NZ');
    expect(b.subject).not.toBe(a.subject);

    // Both customers see the read in their own vault's log, and the logs verify.
    for (const [customer, redemption] of [
      [ada, a],
      [bo, b],
    ] as const) {
      const log = await customer.expect<unknown>('GET', '/api/v1/audit/export');
      expect(await verifyAuditExport(log)).toMatchObject({ ok: true });
      const { entries } = await customer.expect<{
        entries: { id: string; event: string; vendor: { name: string } | null }[];
      }>('GET', '/api/v1/audit?event=key_redeemed');
      expect(entries).toEqual([
        expect.objectContaining({
          id: redemption.auditEntryId,
          vendor: expect.objectContaining({ name: 'Acme Optics' }),
        }),
      ]);
    }
  });

  it('redeems a short code at the vault named for it', async () => {
    const cy = await customerWith(south, {
      lines: ['3 Code Lane'],
      locality: 'Typeton',
      country: 'IE',
    });
    const issued = await issue(cy, { scope: ['address.home'] });
    const typed = issued.shortCode.toLowerCase().replaceAll('-', ' ');
    const redemption = await optician.client.redeem(typed, { issuer: south.url });
    expect(redemption.field('address.home')?.locality).toBe('Typeton');
    expect(redemption.keyId).toBe(issued.id);
  });

  it('refuses a second redemption of a single-use key with a typed error carrying the request id', async () => {
    const di = await customerWith(north, {
      lines: ['4 Once Way'],
      locality: 'Onceburg',
      country: 'DE',
    });
    const issued = await issue(di, { scope: ['address.home'] });
    await optician.client.redeem(issued.key);
    const error = await optician.client.redeem(issued.key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyUsedOrRevokedError);
    expect((error as WebkeyUsedOrRevokedError).requestId).toMatch(/^req_/);
  });

  it('says "not for you" for a key bound to another vendor', async () => {
    const other = await startVendorApp('Other Shop', { issuers: [north.url] });
    try {
      const ed = await customerWith(north, {
        lines: ['5 Bound St'],
        locality: 'Boundary',
        country: 'FR',
      });
      const issued = await issue(ed, { scope: ['address.home'], audience: optician.id });
      await expect(other.client.redeem(issued.key)).rejects.toBeInstanceOf(WebkeyNotForYouError);
      expect((await optician.client.redeem(issued.key)).field('address.home')?.locality).toBe(
        'Boundary',
      );
    } finally {
      await other.stop();
    }
  });

  it('sends nothing to a vault its trust policy does not accept', async () => {
    const fay = await customerWith(stranger, {
      lines: ['6 Unknown Ave'],
      locality: 'Elsewhere',
      country: 'US',
    });
    const issued = await issue(fay, { scope: ['address.home'] });
    await expect(optician.client.redeem(issued.key)).rejects.toBeInstanceOf(UntrustedIssuerError);
    const { entries } = await fay.expect<{ entries: { event: string }[] }>('GET', '/api/v1/audit');
    expect(entries.map((e) => e.event)).not.toContain('key_refused');
    expect(
      (await fay.expect<{ status: string }>('GET', `/api/v1/webkeys/${issued.id}`)).status,
    ).toBe('active');
  });
});
