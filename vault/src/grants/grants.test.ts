import {
  CLIENT_ASSERTION_TYPE,
  type GrantSummary,
  grantReadResponseSchema,
  type IssuedWebkey,
  redemptionResponseSchema,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';
import { hasGrants } from './grants.repository.ts';

describe.each(TEST_ENGINES)('standing grants on %s', (engine) => {
  // Real time: the test vendors sign assertions with the real clock.
  const clock = testClock(Date.now());
  let vault: TestVault;
  let dealer: TestVendor;
  let stranger: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    [dealer, stranger] = await Promise.all([
      TestVendor.start('Herbst Motors'),
      TestVendor.start('Stranger Shop'),
    ]);
  });
  afterAll(async () => {
    await dealer.stop();
    await stranger.stop();
    await vault.dispose();
  });

  async function readGrant(vendor: TestVendor, grant: string) {
    // Assertions dated by the vault's clock, which these tests move.
    const iat = Math.floor(clock().getTime() / 1000);
    const assertion = await vendor.assertion(vault.url, { claims: { iat, exp: iat + 60 } });
    const response = await fetch(`${vault.url}/vendor/v1/grants/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as unknown,
    };
  }

  async function customerWithGrant(days = 30) {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Old Road'], locality: 'Leeds', country: 'GB' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/insurance.primary',
      { insurer: 'Secret Health', memberId: 'NOT-IN-SCOPE-1' },
      201,
    );
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Car purchase', grantDays: days },
      201,
    );
    expect(issued.grantDays).toBe(days);
    const redeemed = await dealer.redeem(vault.url, { key: issued.key });
    expect(redeemed.status).toBe(200);
    const redemption = redemptionResponseSchema.parse(redeemed.body);
    expect(redemption.grant).toBeDefined();
    return { customer, issued, redemption, grantId: redemption.grant!.id };
  }

  it('lets the dealer re-read the corrected address until the customer revokes, then refuses', async () => {
    const { customer, redemption, grantId } = await customerWithGrant();
    const first = grantReadResponseSchema.parse((await readGrant(dealer, grantId)).body);
    expect(first.fields['address.home']?.value).toMatchObject({ locality: 'Leeds' });
    expect(first.subject).toBe(redemption.subject);
    expect(JSON.stringify(first)).not.toContain('NOT-IN-SCOPE-1');

    // The customer corrects the address; the dealer's copy is no longer the master.
    const corrected = await customer.writeRecord('address.home', {
      lines: ['2 New Street'],
      locality: 'York',
      country: 'GB',
    });
    expect(corrected.status).toBe(200);
    const second = grantReadResponseSchema.parse((await readGrant(dealer, grantId)).body);
    expect(second.fields['address.home']?.value).toMatchObject({
      lines: ['2 New Street'],
      locality: 'York',
    });

    const { grants } = await customer.expect<{ grants: GrantSummary[] }>('GET', '/api/v1/grants');
    expect(grants).toEqual([
      expect.objectContaining({
        id: grantId,
        status: 'active',
        vendor: { id: dealer.id, name: 'Herbst Motors' },
      }),
    ]);
    expect(grants[0]?.lastReadAt).toBe(second.readAt);

    const revoked = await customer.expect<GrantSummary>('DELETE', `/api/v1/grants/${grantId}`);
    expect(revoked.status).toBe('revoked');
    expectProblem(await readGrant(dealer, grantId), 403, 'grant_refused');
    expect(
      (await customer.expect<{ grants: GrantSummary[] }>('GET', '/api/v1/grants')).grants,
    ).toEqual([]);

    const { entries } = await customer.expect<{
      entries: { event: string; reason: string | null; vendor: { name: string } | null }[];
    }>('GET', '/api/v1/audit');
    expect(entries.slice(0, 5).map((e) => [e.event, e.reason])).toEqual([
      ['grant_refused', 'revoked'],
      ['grant_revoked', null],
      ['grant_read', null],
      ['record_changed', 'updated'],
      ['grant_read', null],
    ]);
  });

  it('tells a vendor with a grant from a stranger (hasGrants)', async () => {
    await customerWithGrant(1);
    expect(await hasGrants(vault.ctx.db, dealer.id)).toBe(true);
    expect(await hasGrants(vault.ctx.db, 'https://never-granted.example/vendor.json')).toBe(false);
  });

  it('refuses other vendors, unknown grants and expired grants identically', async () => {
    const { customer, grantId } = await customerWithGrant(1);
    const foreign = await readGrant(stranger, grantId);
    const unknown = await readGrant(dealer, 'grt_AAAAAAAAAAAAAAAAAAAAAA');
    clock.advance(24 * 3600 * 1000 + 1000);
    const expired = await readGrant(dealer, grantId);
    // Back to real time: later tests' vendors sign with the real clock.
    clock.advance(-(24 * 3600 * 1000 + 1000));
    const bodies = [foreign, unknown, expired].map((answer) => {
      expectProblem(answer, 403, 'grant_refused');
      const { requestId: _omit, ...rest } = answer.body as Record<string, unknown>;
      return rest;
    });
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    const { entries } = await customer.expect<{
      entries: { event: string; reason: string | null; vendor: { name: string } | null }[];
    }>('GET', '/api/v1/audit?event=grant_refused');
    expect(entries.map((e) => e.reason).sort()).toEqual(['expired', 'not_for_this_vendor']);
    // Another vendor's grant: named by its id's host, not by what its name says.
    expect(entries.find((e) => e.reason === 'not_for_this_vendor')?.vendor?.name).toBe(
      new URL(stranger.id).host,
    );
  });

  it('refuses a grant length over a year or under a day, storing nothing', async () => {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    for (const grantDays of [0, 366, 1.5]) {
      expectProblem(
        await customer.request('POST', '/api/v1/webkeys', {
          scope: ['address.home'],
          purpose: 'x',
          grantDays,
        }),
        400,
        'invalid_request',
      );
    }
    expect(
      (await customer.expect<{ webkeys: unknown[] }>('GET', '/api/v1/webkeys?all=true')).webkeys,
    ).toEqual([]);
  });

  it('makes no grant for a plain handover', async () => {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Once' },
      201,
    );
    const redemption = redemptionResponseSchema.parse(
      (await dealer.redeem(vault.url, { key: issued.key })).body,
    );
    expect(redemption.grant).toBeUndefined();
    expect(
      (await customer.expect<{ grants: unknown[] }>('GET', '/api/v1/grants?all=true')).grants,
    ).toEqual([]);
  });

  it('records a webhook URL only when it passes the vendor-id rules; otherwise the shop is not notified', async () => {
    const hooks = [
      ['http://hooks.example/in', false], // plain http off loopback: refused even in development mode
      ['ftp://127.0.0.1/in', false],
      ['http://127.0.0.1:9/in', true], // loopback http: development mode only
    ] as const;
    for (const [webhookUri, notifies] of hooks) {
      const shop = await TestVendor.start('Hook Shop', { webhookUri });
      try {
        const customer = new VaultCustomer(vault.url);
        await customer.signUp();
        const issued = await customer.expect<IssuedWebkey>(
          'POST',
          '/api/v1/webkeys',
          { scope: ['address.home'], purpose: 'Hooks', grantDays: 5 },
          201,
        );
        expect((await shop.redeem(vault.url, { key: issued.key })).status).toBe(200);
        const { grants } = await customer.expect<{ grants: GrantSummary[] }>(
          'GET',
          '/api/v1/grants',
        );
        expect(
          grants.map((grant) => grant.notifies),
          webhookUri,
        ).toEqual([notifies]);
      } finally {
        await shop.stop();
      }
    }
  });

  /** The birth date of someone who turns `years` old `inDays` days from the vault's today. */
  function birthDateTurning(years: number, inDays: number): string {
    const now = clock();
    return new Date(
      Date.UTC(now.getUTCFullYear() - years, now.getUTCMonth(), now.getUTCDate() + inDays),
    )
      .toISOString()
      .slice(0, 10);
  }

  async function customerWithAgeGrant(vendor: TestVendor, birthDate: string) {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect('PUT', '/api/v1/records/profile', { legalName: 'Kim', birthDate }, 201);
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile.age_over_21'], purpose: 'Wine club', grantDays: 30 },
      201,
    );
    const redemption = redemptionResponseSchema.parse(
      (await vendor.redeem(vault.url, { key: issued.key })).body,
    );
    return { customer, redemption, grantId: redemption.grant!.id };
  }

  it('answers age claims as of the day the grant opened, so re-reads cannot find the birthday', async () => {
    const { customer, redemption, grantId } = await customerWithAgeGrant(
      dealer,
      birthDateTurning(21, 2),
    );
    expect(redemption.claims).toEqual({ 'profile.age_over_21': false });
    const threeDays = 3 * 24 * 3600 * 1000;
    clock.advance(threeDays);
    try {
      const read = grantReadResponseSchema.parse((await readGrant(dealer, grantId)).body);
      expect(read.claims).toEqual({ 'profile.age_over_21': false });
      expect(read.fields).toEqual({});
      // The customer is 21 now: a key issued today says so.
      expect((await customer.signIn()).status).toBe(200);
      const today = await customer.expect<IssuedWebkey>(
        'POST',
        '/api/v1/webkeys',
        { scope: ['profile.age_over_21'], purpose: 'Wine club' },
        201,
      );
      const iat = Math.floor(clock().getTime() / 1000);
      const assertion = await dealer.assertion(vault.url, { claims: { iat, exp: iat + 60 } });
      const again = await dealer.redeem(vault.url, { key: today.key }, { assertion });
      expect(redemptionResponseSchema.parse(again.body).claims).toEqual({
        'profile.age_over_21': true,
      });
    } finally {
      // Back to real time: later tests' vendors sign with the real clock.
      clock.advance(-threeDays);
    }
  });

  it("notifies an age claim's grant only when the claim's answer changes, not on every profile edit", async () => {
    const shop = await TestVendor.start('Wine Shop', { webhookUri: 'http://127.0.0.1:9/in' });
    try {
      const birthDate = birthDateTurning(30, 0);
      const { customer, grantId } = await customerWithAgeGrant(shop, birthDate);
      const queued = async () =>
        (
          await vault.ctx.db
            .selectFrom('webhook_outbox')
            .select('payload')
            .where('grant_id', '=', grantId)
            .execute()
        ).map((row) => JSON.parse(row.payload).paths);
      await customer.writeRecord('profile', { legalName: 'Kim Park', birthDate });
      await customer.writeRecord('profile', { legalName: 'Kim Park', birthDate: '1999-01-01' });
      expect(await queued()).toEqual([]);
      // Under 21 on the day the grant opened: the answer changes.
      await customer.writeRecord('profile', {
        legalName: 'Kim Park',
        birthDate: birthDateTurning(21, 10),
      });
      expect(await queued()).toEqual([['profile.age_over_21']]);
    } finally {
      await shop.stop();
    }
  });
});
