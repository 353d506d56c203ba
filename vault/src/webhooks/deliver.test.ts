import { type IssuedWebkey, redemptionResponseSchema } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestVault, type TestVault, testClock } from '../testing/test-vault.ts';
import type { Poster } from '../vendors/safe-fetch.ts';
import { deliverDue } from './deliver.ts';
import { outboxRow } from './enqueue.ts';

describe('webhook delivery rounds', () => {
  // Real time at the start: the test vendor signs its assertion with the real clock.
  const clock = testClock(Date.now());
  let vault: TestVault;
  let vendor: TestVendor;
  let grantId: string;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { clock, config: { devMode: true } });
    vendor = await TestVendor.start('Hooked Shop');
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect('PUT', '/api/v1/records/profile', { legalName: 'Hal' }, 201);
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile'], purpose: 'Hooks', grantDays: 10 },
      201,
    );
    grantId = redemptionResponseSchema.parse(
      (await vendor.redeem(vault.url, { key: issued.key })).body,
    ).grant!.id;
  });
  afterAll(async () => {
    await vendor.stop();
    await vault.dispose();
  });

  async function queue(urls: string[]): Promise<void> {
    const now = clock().getTime();
    await vault.ctx.db
      .insertInto('webhook_outbox')
      .values(
        urls.map((url, i) =>
          outboxRow(
            { id: `evt_round_${now}_${i}`, grantId, url, payload: JSON.stringify({ n: i }) },
            now,
          ),
        ),
      )
      .execute();
  }

  it('delivers a batch in parallel, at most 4 at once to one host, each signed when it is sent', async () => {
    await queue([
      ...Array.from({ length: 10 }, (_, i) => `https://slow.example/hook/${i}`),
      ...Array.from({ length: 2 }, (_, i) => `https://quick.example/hook/${i}`),
    ]);
    const inFlight = new Map<string, number>();
    const most = new Map<string, number>();
    const stamps: { sent: number; header: number }[] = [];
    const post: Poster = async (url, request) => {
      const host = new URL(url).host;
      inFlight.set(host, (inFlight.get(host) ?? 0) + 1);
      most.set(host, Math.max(most.get(host) ?? 0, inFlight.get(host)!));
      stamps.push({
        sent: Math.floor(clock().getTime() / 1000),
        header: Number(request.headers['webhook-timestamp']),
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Each attempt takes three seconds of the vault's time.
      clock.advance(3000);
      inFlight.set(host, inFlight.get(host)! - 1);
      return { status: 204 };
    };
    const taken = Math.floor(clock().getTime() / 1000);
    expect(await deliverDue(vault.ctx, post)).toBe(12);
    expect(most.get('slow.example')).toBe(4);
    expect(most.get('quick.example')).toBe(2);
    expect(stamps).toHaveLength(12);
    // Each signed when it was sent, not when the batch was taken: a lane's third attempt to
    // the slow host starts after its first two took 3 s of the vault's time each.
    for (const { sent, header } of stamps) expect(header).toBeLessThanOrEqual(sent);
    expect(stamps.filter((s) => s.header >= taken + 6).length).toBeGreaterThanOrEqual(2);
  });

  it('keeps a stalled process from overwriting a delivery another process made after its lease', async () => {
    clock.advance(3_600_000);
    await queue(['https://stalled.example/hook']);
    let release: (() => void) | undefined;
    const stalled: Poster = () =>
      new Promise((_resolve, reject) => {
        release = () => reject(new Error('connection reset'));
      });
    const first = deliverDue(vault.ctx, stalled);
    await expect.poll(() => release).toBeDefined();
    // The lease (60 s) runs out while the first process is stuck; a second one takes over.
    clock.advance(61_000);
    expect(await deliverDue(vault.ctx, async () => ({ status: 204 }))).toBe(1);
    release!();
    expect(await first).toBe(0);
    const row = await vault.ctx.db
      .selectFrom('webhook_outbox')
      .select(['delivered_at', 'dropped_at', 'attempts', 'last_status', 'last_error'])
      .where('url', '=', 'https://stalled.example/hook')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      dropped_at: null,
      attempts: 1,
      last_status: 204,
      last_error: null,
    });
    expect(row.delivered_at).not.toBeNull();
  });
});
