import { setTimeout as sleep } from 'node:timers/promises';
import type { IssuedWebkey } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import { GrantRefusedError } from '@webkey/vendor-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVendorApp, type VendorApp } from './support/vendor-app.ts';

async function correct(customer: VaultCustomer, content: Record<string, unknown>) {
  expect((await customer.writeRecord('address.home', content)).status).toBe(200);
}

describe('fresh data pushed to the dealer', () => {
  let vault: TestVault;
  let dealer: VendorApp;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    dealer = await startVendorApp('Herbst Motors', { issuers: [vault.url] }, { webhooks: true });
  });
  afterAll(async () => {
    await dealer.stop();
    await vault.dispose();
  });

  it('signals a corrected address; the dealer reads it; after revocation nothing more arrives and reads are refused', async () => {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Wrong Street'], locality: 'Reno', country: 'US' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/insurance.primary',
      { insurer: 'Unrelated', memberId: 'X-1' },
      201,
    );
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Car purchase', grantDays: 365 },
      201,
    );
    const redemption = await dealer.client.redeem(issued.key);
    const grantId = redemption.grant!.id;

    await correct(customer, { lines: ['8 Right Road'], locality: 'Las Vegas', country: 'US' });
    await expect.poll(() => dealer.events.length, { timeout: 8000 }).toBe(1);
    const [event] = dealer.events;
    expect(event).toMatchObject({
      type: 'grant.data_changed',
      issuer: vault.url,
      grantId,
      paths: ['address.home'],
      // Whom it is for: a vendor may name another vendor's endpoint as its webhook.
      vendor: dealer.client.clientId,
    });
    // Thin: no personal data in the notification.
    expect(JSON.stringify(event)).not.toContain('Right Road');

    const listed = await customer.expect<{ grants: { deliveries: unknown }[] }>(
      'GET',
      '/api/v1/grants',
    );
    expect(listed.grants[0]?.deliveries).toMatchObject({ delivered: 1, pending: 0, dropped: 0 });

    const fresh = await dealer.client.grants.read(event!.grantId, { issuer: event!.issuer });
    expect(fresh.field('address.home')?.lines).toEqual(['8 Right Road']);

    // A change outside the grant's scope sends nothing.
    await customer.writeRecord('insurance.primary', { insurer: 'Unrelated', memberId: 'X-2' });

    await customer.expect('DELETE', `/api/v1/grants/${grantId}`);
    await expect(dealer.client.grants.read(grantId)).rejects.toBeInstanceOf(GrantRefusedError);
    await correct(customer, { lines: ['9 Private Lane'], locality: 'Las Vegas', country: 'US' });
    await sleep(2500);
    expect(dealer.events).toHaveLength(1);
    expect(dealer.refusedWebhooks).toBe(0);
  });

  it('keeps a failed delivery in the outbox across a restart and delivers it after, with the same id', async () => {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 First St'], locality: 'Austin', country: 'US' },
      201,
    );
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Service plan', grantDays: 30 },
      201,
    );
    const grantId = (await dealer.client.redeem(issued.key)).grant!.id;

    dealer.webhookStatus = 503;
    const before = dealer.events.length;
    await correct(customer, { lines: ['2 Second St'], locality: 'Austin', country: 'US' });
    const pending = async () =>
      vault.ctx.db
        .selectFrom('webhook_outbox')
        .selectAll()
        .where('grant_id', '=', grantId)
        .executeTakeFirstOrThrow();
    await expect
      .poll(async () => (await pending()).attempts, { timeout: 8000 })
      .toBeGreaterThanOrEqual(1);
    const queued = await pending();
    expect(queued.delivered_at).toBeNull();
    expect(queued.last_status).toBe(503);

    // The vault stops mid-retry; the next process finds the event in the database.
    await vault.close();
    dealer.webhookStatus = 204;
    // Same port: a vault's issuer URL is stable across restarts.
    const restarted = await startTestVault('sqlite', {
      storage: vault.storage,
      config: { devMode: true, port: vault.port },
    });
    try {
      // Make the retry due now rather than after its backoff.
      await restarted.ctx.db
        .updateTable('webhook_outbox')
        .set({ next_attempt_at: 0 })
        .where('id', '=', queued.id)
        .execute();
      await expect.poll(() => dealer.events.length, { timeout: 8000 }).toBe(before + 1);
      expect(dealer.events.at(-1)?.id).toBe(queued.id);
      expect(dealer.refusedWebhooks).toBe(0);
    } finally {
      await restarted.close();
    }
    vault = { ...vault, close: async () => undefined } as TestVault;
  });
});
