import type { IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINDOW_MS } from '../limits/failure-limits.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';
import { REFUSAL_AUDIT_LIMITS } from './audit-refusal.ts';

describe.each(TEST_ENGINES)('the refusal budget of a customer on %s', (engine) => {
  // Real time: the vendors' assertions are dated by the vault's clock below.
  const clock = testClock(Date.now());
  let vault: TestVault;
  let acme: TestVendor;
  let globex: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    [acme, globex] = await Promise.all([TestVendor.start('Acme'), TestVendor.start('Globex')]);
  });
  afterAll(async () => {
    await acme.stop();
    await globex.stop();
    await vault.dispose();
  });

  async function redeem(vendor: TestVendor, key: string) {
    const iat = Math.floor(clock().getTime() / 1000);
    const assertion = await vendor.assertion(vault.url, { claims: { iat, exp: iat + 60 } });
    return vendor.redeem(vault.url, { key }, { assertion });
  }

  /** A customer with a key that is used up (redeemed once by Acme) and a fresh one. */
  async function customerWithUsedKey() {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect('PUT', '/api/v1/records/profile', { legalName: 'Ines' }, 201);
    const issue = () =>
      customer.expect<IssuedWebkey>(
        'POST',
        '/api/v1/webkeys',
        { scope: ['profile'], purpose: 'Visit' },
        201,
      );
    const used = await issue();
    expect((await redeem(acme, used.key)).status).toBe(200);
    const row = await vault.ctx.db
      .selectFrom('webkeys')
      .select('customer_id')
      .where('id', '=', used.id)
      .executeTakeFirstOrThrow();
    return { used, fresh: await issue(), customerId: row.customer_id };
  }

  /** Spends a budget bucket for this minute, as if `count` refusals had been audited. */
  async function spend(bucket: string, count: number): Promise<void> {
    const now = clock().getTime();
    await vault.ctx.db
      .insertInto('rate_limits')
      .values({ bucket, window_start: now - (now % WINDOW_MS), count })
      .execute();
  }

  async function refusalEntries(customerId: string): Promise<number> {
    const row = await vault.ctx.db
      .selectFrom('audit_entries')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('customer_id', '=', customerId)
      .where('event', '=', 'key_refused')
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  it('audits so many refusals from one vendor a minute, then records nothing more, refusing alike', async () => {
    clock.advance(WINDOW_MS);
    const { used, fresh, customerId } = await customerWithUsedKey();
    const other = await customerWithUsedKey();
    const tries = REFUSAL_AUDIT_LIMITS.vendor + 5;
    const answers = await Promise.all(Array.from({ length: tries }, () => redeem(acme, used.key)));
    for (const answer of answers) expectProblem(answer, 403, 'webkey_refused');
    expect(await refusalEntries(customerId)).toBe(REFUSAL_AUDIT_LIMITS.vendor);
    // Over this customer's budget, a refusal of their key is answered as one of anybody's: an
    // answer of its own would tell the vendor which keys are this customer's.
    const overBudget = await redeem(acme, used.key);
    const elsewhere = await redeem(acme, other.used.key);
    expectProblem(overBudget, 403, 'webkey_refused');
    expectProblem(elsewhere, 403, 'webkey_refused');
    const { requestId: _a, ...overBody } = overBudget.body as Record<string, unknown>;
    const { requestId: _b, ...elsewhereBody } = elsewhere.body as Record<string, unknown>;
    expect(overBody).toEqual(elsewhereBody);
    expect(await refusalEntries(customerId)).toBe(REFUSAL_AUDIT_LIMITS.vendor);
    // Another vendor has a budget of its own; a good key is never held back.
    expectProblem(await redeem(globex, used.key), 403, 'webkey_refused');
    expect((await redeem(acme, fresh.key)).status).toBe(200);
    // The next minute, refusals are audited again.
    clock.advance(WINDOW_MS);
    expectProblem(await redeem(acme, used.key), 403, 'webkey_refused');
    expect(await refusalEntries(customerId)).toBe(REFUSAL_AUDIT_LIMITS.vendor + 2);
  });

  it('spends the assertion of a refusal it does not record', async () => {
    clock.advance(WINDOW_MS);
    const { used, customerId } = await customerWithUsedKey();
    await spend(
      `refusal-audits:customer:${customerId}:vendor:${acme.id}`,
      REFUSAL_AUDIT_LIMITS.vendor,
    );
    const iat = Math.floor(clock().getTime() / 1000);
    const assertion = await acme.assertion(vault.url, { claims: { iat, exp: iat + 60 } });
    expectProblem(
      await acme.redeem(vault.url, { key: used.key }, { assertion }),
      403,
      'webkey_refused',
    );
    expect(await refusalEntries(customerId)).toBe(0);
    expectProblem(
      await acme.redeem(vault.url, { key: used.key }, { assertion }),
      401,
      'invalid_client',
    );
  });

  it('holds every vendor together to the customer-wide budget', async () => {
    clock.advance(WINDOW_MS);
    const { used, customerId } = await customerWithUsedKey();
    // As if many vendor identities had spent it this minute.
    await spend(`refusal-audits:customer:${customerId}`, REFUSAL_AUDIT_LIMITS.customer);
    expectProblem(await redeem(globex, used.key), 403, 'webkey_refused');
    expect(await refusalEntries(customerId)).toBe(0);
  });
});
