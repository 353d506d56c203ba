import { startTestVault, type TestVault } from '@webkey/vault/testing';
import { GrantRefusedError } from '@webkey/vendor-sdk';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVendorApp, type VendorApp } from '../support/vendor-app.ts';
import {
  addVirtualAuthenticator,
  chromiumAvailable,
  launchChromium,
  screenshotBoth,
} from './support/chromium.ts';

const byTestId = (id: string) => `[data-testid="${id}"]`;

/**
 * Standing grants and write-back in a real browser: the customer hands over an address and an
 * insurance card as a standing grant that lets the shop file receipts; the shop (a VendorClient)
 * redeems the short code and files a receipt; the customer sees the shop, its grant and the
 * receipt on the Shops page, accepts the receipt into their documents and revokes the grant,
 * after which the shop's re-read is refused.
 */
describe.runIf(chromiumAvailable())('shops, standing grants and the inbox in Chromium', () => {
  let vault: TestVault;
  let shop: VendorApp;
  let browser: Browser;
  let customer: Page;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    shop = await startVendorApp('Acme Optics', { issuers: [vault.url] });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    customer = await context.newPage();
    await addVirtualAuthenticator(context, customer);
  });

  afterAll(async () => {
    await browser?.close();
    await shop?.stop();
    await vault?.dispose();
  });

  const go = (route: 'details' | 'handover' | 'relationships' | 'activity') =>
    customer.click(byTestId(`nav-${route}`));

  it('signs up and stores a home address and an insurance policy', async () => {
    await customer.goto(vault.url);
    await customer.fill(byTestId('user-name'), 'Ada Lovelace');
    await customer.click(byTestId('sign-up'));
    await customer.click(byTestId('recovery-done'));
    await go('details');
    await customer.fill(byTestId('address-line1'), '12 St James Square');
    await customer.fill(byTestId('address-locality'), 'London');
    await customer.fill(byTestId('address-country'), 'GB');
    await customer.click(byTestId('save-address'));
    await customer.waitForSelector(byTestId('saved-address'));
    await customer.fill(byTestId('insurance-insurer'), 'Harbour Health');
    await customer.fill(byTestId('insurance-memberId'), 'HH-4471-0923');
    await customer.click(byTestId('save-insurance'));
    await customer.waitForSelector(byTestId('saved-insurance'));
  });

  let grantId = '';

  it('hands both over as a standing grant that lets the shop file receipts', async () => {
    await go('handover');
    await customer.check(byTestId('share-address.home'));
    await customer.check(byTestId('share-insurance.primary'));
    expect(await customer.isVisible(byTestId('handover-grant-days'))).toBe(false);
    await customer.check(byTestId('handover-standing'));
    expect(await customer.inputValue(byTestId('handover-grant-days'))).toBe('90');
    await customer.check(byTestId('handover-write-receipt'));
    await screenshotBoth(customer, '11-handover-standing');
    await customer.click(byTestId('create-key'));
    await expect
      .poll(async () => customer.locator(byTestId('short-code')).textContent())
      .toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    const shortCode = (await customer.locator(byTestId('short-code')).textContent())?.trim() ?? '';

    const redemption = await shop.client.redeem(shortCode, { issuer: vault.url });
    expect(redemption.grant?.writes).toEqual(['receipt']);
    grantId = redemption.grant?.id ?? '';
    expect(grantId).toMatch(/^grt_/);
    const read = await shop.client.grants.read(grantId, { issuer: vault.url });
    expect(read.field('insurance.primary')).toMatchObject({ insurer: 'Harbour Health' });

    await shop.client.records.deposit(
      grantId,
      {
        kind: 'receipt',
        ref: 'INV-1',
        content: {
          title: 'Eye exam',
          issuedOn: '2026-11-23',
          total: { amount: '80.00', currency: 'USD' },
        },
      },
      { issuer: vault.url },
    );
  });

  it('shows the shop, its grant and the filed receipt; accepting moves it to documents', async () => {
    await go('relationships');
    const vendor = customer.locator(byTestId('vendor-row'));
    await expect.poll(() => vendor.count()).toBe(1);
    expect(await vendor.textContent()).toMatch(/Acme Optics/);
    const grant = vendor.locator(byTestId('grant-row'));
    await expect.poll(() => grant.count()).toBe(1);
    expect(await grant.textContent()).toMatch(/Home address, Insurance card/);
    expect(await grant.textContent()).toMatch(/May file: Receipts/);
    expect(await grant.textContent()).toMatch(/Last read again/);
    const inbox = customer.locator(byTestId('inbox-row'));
    await expect.poll(() => inbox.count()).toBe(1);
    expect(await inbox.textContent()).toMatch(/Eye exam/);
    expect(await inbox.textContent()).toMatch(/Receipt from Acme Optics/);
    expect(await inbox.textContent()).toMatch(/\$80\.00/);
    // Nothing wider than the phone, the navigation included.
    const overflow = await customer.evaluate(() => {
      const nav = document.querySelector('#nav ul') as HTMLElement;
      return {
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        nav: nav.scrollWidth - nav.clientWidth,
      };
    });
    expect(overflow).toEqual({ page: 0, nav: 0 });
    await screenshotBoth(customer, '12-relationships');

    await inbox.first().locator(byTestId('accept-deposit')).click();
    await expect.poll(() => inbox.count()).toBe(0);
    const documents = customer.locator(byTestId('document-row'));
    await expect.poll(() => documents.count()).toBe(1);
    expect(await documents.textContent()).toMatch(/Eye exam/);
  });

  it('revokes the grant: its status says so and the shop can no longer re-read', async () => {
    const grant = customer.locator(byTestId('grant-row'));
    await grant.first().locator(byTestId('revoke-grant')).click();
    await expect
      .poll(() => grant.first().locator(byTestId('grant-status')).textContent())
      .toMatch(/Revoked/);
    expect(await grant.first().locator(byTestId('revoke-grant')).count()).toBe(0);
    await expect(shop.client.grants.read(grantId, { issuer: vault.url })).rejects.toBeInstanceOf(
      GrantRefusedError,
    );
    await screenshotBoth(customer, '13-relationships-revoked');
  });

  it('words the new events on the activity page', async () => {
    await go('activity');
    const entries = customer.locator(byTestId('activity-entry'));
    await expect.poll(() => entries.count()).toBeGreaterThanOrEqual(6);
    const text = (await entries.allTextContents()).join('\n');
    expect(text).toMatch(/Re-read by Acme Optics: Home address, Insurance card/);
    expect(text).toMatch(/Acme Optics filed a receipt: Eye exam/);
    expect(text).toMatch(/Accepted into your documents: Acme Optics’s receipt: Eye exam/);
    expect(text).toMatch(/Stopped Acme Optics from reading Home address, Insurance card again/);
    expect(text).toMatch(/Refused \(revoked\): Acme Optics tried to re-read/);
  });
});
