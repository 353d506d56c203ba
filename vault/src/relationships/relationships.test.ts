import {
  CLIENT_ASSERTION_TYPE,
  grantReadResponseSchema,
  type IssuedWebkey,
  redemptionResponseSchema,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault } from '../testing/test-vault.ts';
import type { KnownVendor } from './known-vendors.ts';

describe.each(TEST_ENGINES)('recognising a returning customer on %s', (engine) => {
  let vault: TestVault;
  let dealer: TestVendor;
  let insurer: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault(engine, { config: { devMode: true } });
    [dealer, insurer] = await Promise.all([
      TestVendor.start('Herbst Motors'),
      TestVendor.start('Harbour Insurance'),
    ]);
  });
  afterAll(async () => {
    await dealer.stop();
    await insurer.stop();
    await vault.dispose();
  });

  async function handOver(customer: VaultCustomer, vendor: TestVendor) {
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['contact', 'address.work'], purpose: 'Purchase' },
      201,
    );
    const answer = await vendor.redeem(vault.url, { key: issued.key });
    expect(answer.status).toBe(200);
    return redemptionResponseSchema.parse(answer.body);
  }

  const replace = (customer: VaultCustomer, path: string, content: unknown) =>
    customer.writeRecord(path, content);

  it('gives one vendor the same subject across purchases, whatever the customer changed; another vendor a different one', async () => {
    const nigel = new VaultCustomer(vault.url);
    await nigel.signUp();
    await replace(nigel, 'contact', {
      emails: [{ label: 'work', address: 'nigel@first-employer.example' }],
    });
    await replace(nigel, 'address.work', {
      lines: ['1 First Plaza'],
      locality: 'Leeds',
      country: 'GB',
    });
    const first = await handOver(nigel, dealer);

    // He changes employer: new e-mail, new work address.
    await replace(nigel, 'contact', {
      emails: [{ label: 'work', address: 'nigel@second-employer.example' }],
    });
    await replace(nigel, 'address.work', {
      lines: ['9 Second Street'],
      locality: 'York',
      country: 'GB',
    });
    const second = await handOver(nigel, dealer);

    expect(second.subject).toBe(first.subject);
    const contact = second.fields.contact?.value as { emails: { address: string }[] } | undefined;
    expect(contact?.emails[0]?.address).toBe('nigel@second-employer.example');

    const elsewhere = await handOver(nigel, insurer);
    expect(elsewhere.subject).not.toBe(first.subject);

    // Another customer is another subject at the same vendor.
    const other = new VaultCustomer(vault.url);
    await other.signUp();
    await replace(other, 'contact', { emails: [{ label: 'home', address: 'other@example.com' }] });
    expect((await handOver(other, dealer)).subject).not.toBe(first.subject);

    // The customer sees which vendors know him and since when.
    const { vendors } = await nigel.expect<{ vendors: KnownVendor[] }>('GET', '/api/v1/vendors');
    expect(vendors.map((v) => [v.name, v.reads])).toEqual([
      ['Harbour Insurance', 1],
      ['Herbst Motors', 2],
    ]);
    const herbst = vendors.find((v) => v.id === dealer.id)!;
    expect(herbst.firstReadAt).toBe(first.redeemedAt);
    expect(herbst.lastReadAt).toBe(second.redeemedAt);
  });

  it('lists nobody for a customer no vendor has read, and needs a session', async () => {
    const quiet = new VaultCustomer(vault.url);
    await quiet.signUp();
    expect(await quiet.expect('GET', '/api/v1/vendors')).toEqual({ vendors: [] });
    expectProblem(
      await new VaultCustomer(vault.url).request('GET', '/api/v1/vendors'),
      401,
      'unauthenticated',
    );
  });

  it('counts re-reads under a standing grant as reads', async () => {
    const rosa = new VaultCustomer(vault.url);
    await rosa.signUp();
    await replace(rosa, 'contact', { emails: [{ label: 'home', address: 'rosa@example.com' }] });
    const issued = await rosa.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['contact'], purpose: 'Membership', grantDays: 30 },
      201,
    );
    const redemption = redemptionResponseSchema.parse(
      (await dealer.redeem(vault.url, { key: issued.key })).body,
    );
    let lastRead = '';
    for (let n = 0; n < 2; n++) {
      const response = await fetch(`${vault.url}/vendor/v1/grants/read`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant: redemption.grant!.id,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: await dealer.assertion(vault.url),
        }),
      });
      expect(response.status).toBe(200);
      lastRead = grantReadResponseSchema.parse(await response.json()).readAt;
    }
    const { vendors } = await rosa.expect<{ vendors: KnownVendor[] }>('GET', '/api/v1/vendors');
    expect(vendors).toEqual([
      {
        id: dealer.id,
        name: 'Herbst Motors',
        firstReadAt: redemption.redeemedAt,
        lastReadAt: lastRead,
        reads: 3,
      },
    ]);
  });
});
