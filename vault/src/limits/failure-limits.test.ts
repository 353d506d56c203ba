import { type IssuedWebkey, problemSchema } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';
import {
  addressBucket,
  admitCodeAttempt,
  SHORT_CODE_FAILURE_LIMITS,
  WINDOW_MS,
} from './failure-limits.ts';

describe.each(TEST_ENGINES)('short-code guessing limits on %s', (engine) => {
  // Real time: the test vendors sign their assertions with the real clock.
  const clock = testClock(Date.now());
  let vault: TestVault;
  let guesser: TestVendor;
  let neighbour: TestVendor;
  let issued: IssuedWebkey;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    [guesser, neighbour] = await Promise.all([
      TestVendor.start('Guesser'),
      TestVendor.start('Neighbour'),
    ]);
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Safe St'], locality: 'Bern', country: 'CH' },
      201,
    );
    issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Limits', uses: 5, lifetimeSeconds: 86400 },
      201,
    );
  });
  afterAll(async () => {
    await guesser.stop();
    await neighbour.stop();
    await vault.dispose();
  });

  const guess = (vendor: TestVendor, n: number) =>
    vendor.redeem(vault.url, { code: `0000-0000-${String(n).padStart(4, '0')}` });

  it('answers 429 with Retry-After once a vendor and its address used their failure budget', async () => {
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.vendor; n++)
      expectProblem(await guess(guesser, n), 403, 'webkey_refused');
    const limited = await guess(guesser, 99);
    expectProblem(limited, 429, 'rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000);

    // Even a genuine code is refused while the budget is spent, so the limit reveals nothing.
    expectProblem(await guesser.redeem(vault.url, { code: issued.shortCode }), 429, 'rate_limited');
    // Another vendor on the same address is limited by the address budget.
    expectProblem(
      await neighbour.redeem(vault.url, { code: issued.shortCode }),
      429,
      'rate_limited',
    );
    // Keys (unforgeable) are not subject to the guessing budget.
    expect((await neighbour.redeem(vault.url, { key: issued.key })).status).toBe(200);
  });

  it('opens again in the next window', async () => {
    clock.advance(WINDOW_MS);
    const answer = await guesser.redeem(vault.url, { code: issued.shortCode.toLowerCase() });
    expect(answer.status, JSON.stringify(problemSchema.safeParse(answer.body).data)).toBe(200);
  });

  it('holds a global budget across vendors and addresses', async () => {
    clock.advance(WINDOW_MS);
    const now = clock().getTime();
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.global; n++) {
      await admitCodeAttempt(
        vault.ctx.db,
        `https://v${n % 100}.example/`,
        `203.0.113.${n % 200}`,
        now,
      );
    }
    await expect(
      admitCodeAttempt(vault.ctx.db, 'https://fresh.example/', '198.51.100.7', now),
    ).rejects.toMatchObject({
      code: 'rate_limited',
    });
    await expect(
      admitCodeAttempt(vault.ctx.db, 'https://fresh.example/', '198.51.100.7', now + WINDOW_MS),
    ).resolves.toBeDefined();
  });

  it('lets exactly the budget in when guesses arrive all at once', async () => {
    clock.advance(2 * WINDOW_MS);
    const now = clock().getTime();
    const answers = await Promise.allSettled(
      Array.from({ length: 40 }, () =>
        admitCodeAttempt(vault.ctx.db, 'https://racer.example/', '198.51.100.8', now),
      ),
    );
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(
      SHORT_CODE_FAILURE_LIMITS.vendor,
    );
  });

  it('gives back attempts it refuses or that were redeemed, so they spend no budget', async () => {
    clock.advance(WINDOW_MS);
    const now = clock().getTime();
    const vendor = 'https://patient.example/';
    // Far beyond the vendor's budget, refused attempts leave the global budget alone...
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.global; n++)
      await admitCodeAttempt(vault.ctx.db, vendor, null, now).catch(() => undefined);
    await expect(
      admitCodeAttempt(vault.ctx.db, 'https://other.example/', null, now),
    ).resolves.toBeDefined();
    // ...and redeemed ones give their place back.
    const later = now + WINDOW_MS;
    for (let n = 0; n < 3 * SHORT_CODE_FAILURE_LIMITS.vendor; n++)
      await (await admitCodeAttempt(vault.ctx.db, vendor, null, later)).release();
  });

  it('keeps one budget for a whole IPv6 /64, as for one IPv4 address', async () => {
    clock.advance(WINDOW_MS);
    const now = clock().getTime();
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.ip; n++)
      await admitCodeAttempt(vault.ctx.db, `https://v6-${n}.example/`, `2001:db8:1:2::${n}`, now);
    await expect(
      admitCodeAttempt(vault.ctx.db, 'https://v6-x.example/', '2001:db8:1:2:ffff:1:2:3', now),
    ).rejects.toMatchObject({ code: 'rate_limited' });
    await expect(
      admitCodeAttempt(vault.ctx.db, 'https://v6-y.example/', '2001:db8:1:3::1', now),
    ).resolves.toBeDefined();
  });
});

describe('addressBucket', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['::ffff:198.51.100.1', '198.51.100.1'],
    ['::ffff:c633:6401', '198.51.100.1'],
    ['0:0:0:0:0:FFFF:C633:6401', '198.51.100.1'],
    ['::c633:6401', '0:0:0:0::/64'],
    ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4::/64'],
  ])('keeps %s under %s', (ip, bucket) => {
    expect(addressBucket(ip)).toBe(bucket);
  });
});

describe.each(TEST_ENGINES)('short-code failures on %s', (engine) => {
  const clock = testClock(Date.now());
  let vault: TestVault;
  let guesser: TestVendor;
  let customer: VaultCustomer;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    guesser = await TestVendor.start('Guesser');
    customer = new VaultCustomer(vault.url);
    await customer.signUp();
  });
  afterAll(async () => {
    await guesser.stop();
    await vault.dispose();
  });

  const unknownCode = (n: number) => `0000-0001-${String(n).padStart(4, '0')}`;

  it('counts a refused code like an unknown one, so running out tells no guess from a real key', async () => {
    const used = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile.age_over_18'], purpose: 'Limits' },
      201,
    );
    expect((await guesser.redeem(vault.url, { key: used.key })).status).toBe(200);
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.vendor - 1; n++)
      expectProblem(
        await guesser.redeem(vault.url, { code: unknownCode(n) }),
        403,
        'webkey_refused',
      );
    // The last failure of the budget names a real key, used up: it counts all the same.
    expectProblem(await guesser.redeem(vault.url, { code: used.shortCode }), 403, 'webkey_refused');
    expectProblem(await guesser.redeem(vault.url, { code: unknownCode(99) }), 429, 'rate_limited');
  });

  it('spends the assertion of a request answered 429: it cannot be used again', async () => {
    const assertion = await guesser.assertion(vault.url);
    expectProblem(
      await guesser.redeem(vault.url, { code: unknownCode(100) }, { assertion }),
      429,
      'rate_limited',
    );
    const key = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile.age_over_18'], purpose: 'Limits' },
      201,
    );
    expectProblem(
      await guesser.redeem(vault.url, { key: key.key }, { assertion }),
      401,
      'invalid_client',
    );
    expect((await guesser.redeem(vault.url, { key: key.key })).status).toBe(200);
  });
});
