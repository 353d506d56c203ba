import type { AuditEntry, DepositSummary, IssuedWebkey } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import { GrantRefusedError, InvalidRequestError } from '@webkey/vendor-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVendorApp, type VendorApp } from './support/vendor-app.ts';

describe('write-back: the customer keeps the record of their transactions', () => {
  let vault: TestVault;
  let optician: VendorApp;
  let other: VendorApp;
  let customer: VaultCustomer;
  let grantId: string;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    optician = await startVendorApp('Acme Optics', { issuers: [vault.url] });
    other = await startVendorApp('Other Shop', { issuers: [vault.url] });
    customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/insurance.primary',
      { insurer: 'Harbour Health', memberId: 'HH-1' },
      201,
    );
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      {
        scope: ['insurance.primary'],
        purpose: 'Eye exam',
        grantDays: 90,
        grantWrites: ['prescription', 'receipt'],
      },
      201,
    );
    const redemption = await optician.client.redeem(issued.key);
    expect(redemption.grant?.writes).toEqual(['prescription', 'receipt']);
    grantId = redemption.grant!.id;
  });
  afterAll(async () => {
    await optician.stop();
    await other.stop();
    await vault.dispose();
  });

  it('takes a prescription and a receipt into the inbox; the customer accepts one and discards the other', async () => {
    const prescription = await optician.client.records.deposit(grantId, {
      kind: 'prescription',
      ref: 'RX-2026-118',
      content: {
        title: 'Eyeglass prescription',
        issuedOn: '2026-11-23',
        details: { right: '-2.25 -0.50 x 90', left: '-2.00' },
      },
    });
    const receipt = await optician.client.records.deposit(grantId, {
      kind: 'receipt',
      ref: 'INV-1042',
      content: {
        title: 'Eye exam',
        issuedOn: '2026-11-23',
        lines: [{ description: 'Eye exam', amount: '80.00' }],
        total: { amount: '80.00', currency: 'USD' },
      },
    });
    expect([prescription.version, receipt.version]).toEqual([1, 1]);

    const { deposits } = await customer.expect<{ deposits: DepositSummary[] }>(
      'GET',
      '/api/v1/inbox',
    );
    expect(deposits.map((d) => [d.kind, d.ref, d.vendor.name, d.status]).sort()).toEqual([
      ['prescription', 'RX-2026-118', 'Acme Optics', 'pending'],
      ['receipt', 'INV-1042', 'Acme Optics', 'pending'],
    ]);
    expect(
      (
        await customer.expect<DepositSummary>(
          'POST',
          `/api/v1/inbox/${prescription.depositId}/accept`,
          {},
        )
      ).status,
    ).toBe('accepted');
    expect(
      (
        await customer.expect<DepositSummary>(
          'POST',
          `/api/v1/inbox/${receipt.depositId}/discard`,
          {},
        )
      ).status,
    ).toBe('discarded');
    expect(
      (await customer.request('POST', `/api/v1/inbox/${receipt.depositId}/accept`, {})).status,
    ).toBe(409);

    const documents = await customer.expect<{ deposits: DepositSummary[] }>(
      'GET',
      '/api/v1/documents',
    );
    expect(documents.deposits.map((d) => d.ref)).toEqual(['RX-2026-118']);
    expect(documents.deposits[0]?.content).toMatchObject({
      details: { right: '-2.25 -0.50 x 90' },
    });
    expect(
      (await customer.expect<{ deposits: unknown[] }>('GET', '/api/v1/inbox')).deposits,
    ).toEqual([]);

    const { entries } = await customer.expect<{ entries: AuditEntry[] }>(
      'GET',
      '/api/v1/audit?limit=20',
    );
    const trail = entries
      .filter((e) => e.event.startsWith('deposit_'))
      .map((e) => [e.event, e.paths[0]]);
    expect(trail).toEqual([
      ['deposit_discarded', 'receipt:INV-1042'],
      ['deposit_accepted', 'prescription:RX-2026-118'],
      ['deposit_received', 'receipt:INV-1042'],
      ['deposit_received', 'prescription:RX-2026-118'],
    ]);
  });

  it('amends its own record by depositing a new version', async () => {
    const amended = await optician.client.records.deposit(grantId, {
      kind: 'prescription',
      ref: 'RX-2026-118',
      content: { title: 'Eyeglass prescription (corrected)', issuedOn: '2026-11-24' },
    });
    expect(amended.version).toBe(2);
  });

  it('refuses a kind the grant does not allow, another vendor, malformed records, and anything after revocation', async () => {
    await expect(
      optician.client.records.deposit(grantId, {
        kind: 'order',
        ref: 'O-1',
        content: { title: 'Order', issuedOn: '2026-11-23' },
      }),
    ).rejects.toBeInstanceOf(GrantRefusedError);
    await expect(
      other.client.records.deposit(grantId, {
        kind: 'receipt',
        ref: 'X-1',
        content: { title: 'Spoof', issuedOn: '2026-11-23' },
      }),
    ).rejects.toBeInstanceOf(GrantRefusedError);
    const invalid = await optician.client.records
      .deposit(grantId, {
        kind: 'receipt',
        ref: 'INV-9',
        content: { title: '', issuedOn: '2026-02-30' },
      })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(InvalidRequestError);
    expect((invalid as InvalidRequestError).issues?.map((i) => i.pointer).sort()).toEqual([
      '/content/issuedOn',
      '/content/title',
    ]);

    await customer.expect('DELETE', `/api/v1/grants/${grantId}`);
    await expect(
      optician.client.records.deposit(grantId, {
        kind: 'receipt',
        ref: 'INV-2',
        content: { title: 'Late', issuedOn: '2026-11-25' },
      }),
    ).rejects.toBeInstanceOf(GrantRefusedError);
    const { entries } = await customer.expect<{ entries: AuditEntry[] }>(
      'GET',
      '/api/v1/audit?event=deposit_refused',
    );
    expect(entries.map((e) => e.reason)).toEqual([
      'revoked',
      'not_for_this_vendor',
      'kind_not_granted',
    ]);
    expect(
      (await customer.expect<{ deposits: unknown[] }>('GET', '/api/v1/inbox')).deposits,
    ).toHaveLength(1);
  });

  it('needs grantDays for grantWrites', async () => {
    const answer = await customer.request('POST', '/api/v1/webkeys', {
      scope: ['insurance.primary'],
      purpose: 'x',
      grantWrites: ['receipt'],
    });
    expect(answer.status).toBe(400);
  });
});
