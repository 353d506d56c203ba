import { CLIENT_ASSERTION_TYPE, type IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import {
  createTestStorage,
  startTestVault,
  type TestStorage,
  type TestVault,
} from '@webkey/vault/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const POSTGRES = Boolean(process.env.WEBKEY_TEST_POSTGRES_URL);

/**
 * Two vault instances behind one public URL, sharing one PostgreSQL database, as a large
 * provider runs them behind a load balancer: everything that must be shared is in the database.
 */
describe.runIf(POSTGRES)('two vault instances on one PostgreSQL database', () => {
  const publicUrl = 'http://localhost:7999';
  let storage: TestStorage;
  let a: TestVault;
  let b: TestVault;
  let vendor: TestVendor;
  let customer: VaultCustomer;

  beforeAll(async () => {
    storage = await createTestStorage('postgres');
    const config = { devMode: true, publicUrl };
    a = await startTestVault('postgres', { storage, config });
    b = await startTestVault('postgres', { storage, config });
    vendor = await TestVendor.start('Shared Shop');
    customer = new VaultCustomer(`http://127.0.0.1:${a.port}`, { origin: publicUrl });
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Cluster Way'], locality: 'Dublin', country: 'IE' },
      201,
    );
  });
  afterAll(async () => {
    await vendor.stop();
    await a.close();
    await b.close();
    await storage.dispose();
  });

  const instance = (n: number) => `http://127.0.0.1:${(n % 2 === 0 ? a : b).port}`;

  async function redeemAt(
    base: string,
    presented: { key: string } | { code: string },
    assertion?: string,
  ) {
    const response = await fetch(`${base}/vendor/v1/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...presented,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion ?? (await vendor.assertion(publicUrl)),
      }),
    });
    return { status: response.status, body: (await response.json()) as { code?: string } };
  }

  it('redeems a single-use key exactly once across both instances', async () => {
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Race' },
      201,
    );
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, n) => redeemAt(instance(n), { key: issued.key })),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 403)).toHaveLength(19);
    const { entries } = await customer.expect<{ entries: { keyId: string }[] }>(
      'GET',
      '/api/v1/audit?event=key_redeemed',
    );
    expect(entries.filter((entry) => entry.keyId === issued.id)).toHaveLength(1);
  });

  it('refuses an assertion replayed to the other instance', async () => {
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Replay', uses: 2 },
      201,
    );
    const assertion = await vendor.assertion(publicUrl);
    expect((await redeemAt(instance(0), { key: issued.key }, assertion)).status).toBe(200);
    const replay = await redeemAt(instance(1), { key: issued.key }, assertion);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('invalid_client');
  });

  it('counts short-code failures across both instances', async () => {
    // The budgets count in fixed one-minute windows of the real clock: start well inside one,
    // so the eleven refusals (at least 100 ms each) are never split across two windows.
    const msLeftInWindow = 60_000 - (Date.now() % 60_000);
    if (msLeftInWindow < 5_000) await new Promise((r) => setTimeout(r, msLeftInWindow + 50));
    for (let n = 0; n < 10; n++) {
      expect(
        (await redeemAt(instance(n), { code: `ZZZZ-ZZZZ-${String(n).padStart(4, '0')}` })).status,
      ).toBe(403);
    }
    expect((await redeemAt(instance(0), { code: 'ZZZZ-ZZZZ-9999' })).status).toBe(429);
    expect((await redeemAt(instance(1), { code: 'ZZZZ-ZZZZ-9998' })).status).toBe(429);
  });
});
