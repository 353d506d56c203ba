import { startTestVault, type TestVault } from '@webkey/vault/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPos } from '../../vendor-sdk/examples/pos/server.ts';
import {
  addVirtualAuthenticator,
  chromiumAvailable,
  launchChromium,
  screenshotBoth,
  unlabelledControls,
} from './support/chromium.ts';
import { decodeQrDataUrl } from './support/qr.ts';

const byTestId = (id: string) => `[data-testid="${id}"]`;

/**
 * The counter handover in a real browser: a customer signs up with a passkey, stores an address
 * and an insurance policy, hands both over as a QR code; the clerk's POS page redeems what the QR
 * code says and fills its intake form; the customer sees the read; a revoked key is refused at
 * the POS; the customer signs out and back in with the same passkey.
 */
describe.runIf(chromiumAvailable())('the counter handover in Chromium', () => {
  let vault: TestVault;
  let pos: Awaited<ReturnType<typeof startPos>>;
  let browser: Browser;
  let customerContext: BrowserContext;
  let customer: Page;
  let clerk: Page;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    pos = await startPos({
      port: 0,
      host: '127.0.0.1',
      name: 'Acme Optics',
      trust: { issuers: [vault.url] },
      devHttp: true,
    });
    browser = await launchChromium();
    customerContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
    customer = await customerContext.newPage();
    await addVirtualAuthenticator(customerContext, customer);
    clerk = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await pos?.stop();
    await vault?.dispose();
  });

  async function go(
    route: 'details' | 'handover' | 'keys' | 'activity' | 'devices',
  ): Promise<void> {
    await customer.click(byTestId(`nav-${route}`));
  }

  it('signs up with a passkey and shows the recovery codes once', async () => {
    await customer.goto(vault.url);
    await screenshotBoth(customer, '01-welcome');
    await customer.fill(byTestId('user-name'), 'Ada Lovelace');
    await customer.click(byTestId('sign-up'));
    const codes = customer.locator(`${byTestId('recovery-codes')} li`);
    await expect.poll(() => codes.count()).toBe(10);
    expect(await codes.first().textContent()).toMatch(
      /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/,
    );
    await screenshotBoth(customer, '02-recovery-codes');
    await customer.click(byTestId('recovery-done'));
  });

  it('stores a profile, a home address and an insurance policy', async () => {
    await go('details');
    await customer.fill(byTestId('profile-legalName'), 'Ada Lovelace');
    await customer.fill(byTestId('profile-birthDate'), '1990-12-10');
    await customer.click(byTestId('save-profile'));
    await customer.waitForSelector(byTestId('saved-profile'));

    await customer.fill(byTestId('address-line1'), '12 St James Square');
    await customer.fill(byTestId('address-locality'), 'London');
    await customer.fill(byTestId('address-postalCode'), 'SW1Y 4JH');
    await customer.fill(byTestId('address-country'), 'GB');
    await customer.click(byTestId('save-address'));
    await customer.waitForSelector(byTestId('saved-address'));

    await customer.fill(byTestId('insurance-insurer'), 'Harbour Health');
    await customer.fill(byTestId('insurance-memberId'), 'HH-4471-0923');
    await customer.fill(byTestId('insurance-plan'), 'Vision Plus');
    await customer.click(byTestId('save-insurance'));
    await customer.waitForSelector(byTestId('saved-insurance'));
    await screenshotBoth(customer, '03-details');

    // The vault really has them, as the API sees it.
    const records = await customer.evaluate(
      async () =>
        (await (await fetch('/api/v1/records')).json()) as { records: { path: string }[] },
    );
    expect(records.records.map((r) => r.path).sort()).toEqual([
      'address.home',
      'insurance.primary',
      'profile',
    ]);
  });

  let handedOverKey = '';

  it('hands over the address and the insurance card as a QR code the POS redeems', async () => {
    await go('handover');
    await customer.check(byTestId('share-address.home'));
    await customer.check(byTestId('share-insurance.primary'));
    await customer.check(byTestId('share-profile.age_over_18'));
    await customer.check(byTestId('share-profile.age_over_21'));
    // One age threshold per key (two would bracket the age): ticking 21 unticks 18.
    expect(await customer.isChecked(byTestId('share-profile.age_over_18'))).toBe(false);
    await customer.click(byTestId('create-key'));
    const qr = customer.locator(byTestId('qr'));
    await qr.waitFor();
    await expect
      .poll(async () => customer.locator(byTestId('short-code')).textContent())
      .toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    await expect
      .poll(async () => customer.locator(byTestId('countdown')).textContent())
      .toMatch(/\d+:\d\d/);
    await screenshotBoth(customer, '04-handover');

    // The clerk scans: decode the very image the page shows.
    handedOverKey = decodeQrDataUrl((await qr.getAttribute('src')) ?? '');
    expect(handedOverKey.split('.')).toHaveLength(3);

    await clerk.goto(pos.url);
    await clerk.fill(byTestId('key-input'), handedOverKey);
    await clerk.click(byTestId('redeem'));
    await expect
      .poll(() => clerk.inputValue(byTestId('intake-address-line1')))
      .toBe('12 St James Square');
    expect(await clerk.inputValue(byTestId('intake-address-locality'))).toBe('London');
    expect(await clerk.inputValue(byTestId('intake-insurer'))).toBe('Harbour Health');
    expect(await clerk.inputValue(byTestId('intake-memberId'))).toBe('HH-4471-0923');
    expect(await clerk.inputValue(byTestId('intake-over21'))).toBe('Yes');
    // Not shared: the name and birth date stay in the vault.
    expect(await clerk.inputValue(byTestId('intake-name'))).toBe('');
    expect(await clerk.inputValue(byTestId('intake-birthDate'))).toBe('');
    await screenshotBoth(clerk, '05-pos-intake');

    // The customer's screen says who read it.
    await expect
      .poll(() => customer.locator(byTestId('key-status')).textContent(), { timeout: 10_000 })
      .toMatch(/Read by Acme Optics \(127\.0\.0\.1:\d+\) at \d{1,2}:\d\d/);
    await screenshotBoth(customer, '06-handover-read');
  });

  it('lists the read on the activity page and verifies the log in the browser', async () => {
    await go('activity');
    const entries = customer.locator(byTestId('activity-entry'));
    await expect.poll(() => entries.count()).toBeGreaterThanOrEqual(5);
    expect(await entries.first().textContent()).toMatch(/Acme Optics/);
    await customer.click(byTestId('verify-log'));
    await expect
      .poll(() => customer.locator(byTestId('verify-result')).textContent())
      .toMatch(/verified/i);
    await screenshotBoth(customer, '07-activity');
  });

  it('refuses a revoked key at the POS with a clear message', async () => {
    await go('handover');
    await customer.check(byTestId('share-address.home'));
    await customer.click(byTestId('create-key'));
    await customer.locator(byTestId('qr')).waitFor();
    const shortCode = (await customer.locator(byTestId('short-code')).textContent())?.trim() ?? '';

    await go('keys');
    const rows = customer.locator(byTestId('key-row'));
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(1);
    await screenshotBoth(customer, '08-keys');
    await rows.first().locator(byTestId('revoke-key')).click();
    await expect.poll(() => rows.count()).toBe(0);

    await clerk.goto(pos.url);
    await clerk.fill(byTestId('key-input'), shortCode);
    await clerk.click(byTestId('redeem'));
    await expect
      .poll(() => clerk.locator(byTestId('refusal')).textContent())
      .toMatch(/revoked|already used/i);
    await screenshotBoth(clerk, '09-pos-refusal');
  });

  it('shows the devices page, signs out, and signs back in with the same passkey', async () => {
    await go('devices');
    await expect.poll(() => customer.locator(byTestId('device-row')).count()).toBe(1);
    await screenshotBoth(customer, '10-devices');
    // The vault cannot be reached: the page says so and stays signed in (the session is live).
    await customer.route('**/api/v1/auth/sign-out', (route) => route.abort('connectionrefused'));
    await customer.click(byTestId('sign-out'));
    await expect
      .poll(() => customer.locator('#error').textContent())
      .toMatch(/Could not sign out.*still signed in/);
    expect(await customer.locator(byTestId('nav-details')).isVisible()).toBe(true);
    await customer.unroute('**/api/v1/auth/sign-out');
    await customer.click(byTestId('sign-out'));
    await customer.waitForSelector(byTestId('sign-in'));
    expect(await customer.locator('#error').isVisible()).toBe(false);
    await customer.click(byTestId('sign-in'));
    await customer.waitForSelector(byTestId('nav-details'));
    await go('details');
    await expect
      .poll(() => customer.inputValue(byTestId('address-line1')))
      .toBe('12 St James Square');
  });

  it('asks for the passkey again before making new recovery codes long after signing in', async () => {
    await go('devices');
    // The session started with a passkey more than five minutes ago.
    await vault.ctx.db.updateTable('sessions').set({ created_at: 0 }).execute();
    const before = await vault.ctx.db.selectFrom('sessions').select('id_hash').execute();
    // Cancelled: nothing changes, and the page says so.
    await customer.click(byTestId('regenerate-codes'));
    await customer.waitForSelector(byTestId('confirm-dialog'));
    await customer.click(byTestId('confirm-cancel'));
    await expect.poll(() => customer.locator('#error').textContent()).toMatch(/did not confirm/);
    expect(await vault.ctx.db.selectFrom('sessions').select('id_hash').execute()).toEqual(before);
    // Confirmed with the passkey: the codes follow.
    await customer.click(byTestId('regenerate-codes'));
    await customer.waitForSelector(byTestId('confirm-dialog'));
    await screenshotBoth(customer, '11-confirm-it-is-you');
    await customer.click(byTestId('confirm-identity'));
    // The virtual authenticator answers the passkey prompt; the codes follow.
    await expect.poll(() => customer.locator(`${byTestId('recovery-codes')} li`).count()).toBe(10);
    expect(await customer.locator('#error').isHidden()).toBe(true);
    // Confirming started a new session in place of the old one.
    const after = await vault.ctx.db.selectFrom('sessions').select('id_hash').execute();
    expect(after).toHaveLength(1);
    expect(after[0]!.id_hash).not.toBe(before[0]!.id_hash);
    expect(await customer.locator(byTestId('confirm-dialog')).count()).toBe(0);
    await screenshotBoth(customer, '12-new-recovery-codes');
  });

  it('labels every control and names every button on every page, for the customer and the clerk', async () => {
    for (const route of ['details', 'handover', 'keys', 'activity', 'devices'] as const) {
      await go(route);
      await customer.waitForTimeout(150);
      expect(await unlabelledControls(customer), route).toEqual([]);
    }
    await clerk.goto(pos.url);
    expect(await unlabelledControls(clerk), 'POS').toEqual([]);
  });
});
