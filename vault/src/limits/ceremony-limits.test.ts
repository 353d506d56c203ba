import { VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedProxies } from '../http/client-address.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';
import { DEFAULT_CEREMONY_STARTS_PER_MINUTE } from './ceremony-limits.ts';

const LIMIT = 3;

async function countChallenges(vault: TestVault): Promise<number> {
  const row = await vault.ctx.db
    .selectFrom('webauthn_challenges')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

describe.each(TEST_ENGINES)('passkey ceremony starts per client address on %s', (engine) => {
  const clock = testClock();
  let vault: TestVault;
  let customer: VaultCustomer;

  beforeAll(async () => {
    vault = await startTestVault(engine, {
      clock,
      config: { ceremonyStartsPerMinute: LIMIT, trustedProxies: parseTrustedProxies('127.0.0.1') },
    });
    customer = new VaultCustomer(vault.url);
  });
  afterAll(async () => {
    await vault.dispose();
  });

  /** Each test starts in a fresh minute: the budgets of the one before are behind it. */
  function nextMinute(): void {
    clock.advance(60_000);
  }

  const from = (address: string) => ({ 'x-forwarded-for': address });
  const signUpOptions = (address: string) =>
    customer.request('POST', '/api/v1/auth/sign-up/options', { userName: 'Ada' }, from(address));
  const signInOptions = (address: string) =>
    customer.request('POST', '/api/v1/auth/sign-in/options', {}, from(address));

  it('lets an address start so many sign-ups and sign-ins a minute, then 429 with Retry-After, storing nothing', async () => {
    nextMinute();
    expect((await signUpOptions('198.51.100.1')).status).toBe(200);
    expect((await signInOptions('198.51.100.1')).status).toBe(200);
    expect((await signUpOptions('198.51.100.1')).status).toBe(200);
    const challenges = await countChallenges(vault);
    for (const start of [signInOptions, signUpOptions]) {
      const limited = await start('198.51.100.1');
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    expect(await countChallenges(vault)).toBe(challenges);
  });

  it('opens the budget again the next minute', async () => {
    nextMinute();
    for (let n = 0; n < LIMIT; n++) expect((await signInOptions('198.51.100.2')).status).toBe(200);
    expectProblem(await signInOptions('198.51.100.2'), 429, 'rate_limited');
    nextMinute();
    expect((await signInOptions('198.51.100.2')).status).toBe(200);
  });

  it('holds an IPv6 /64 as one address, and no other address', async () => {
    nextMinute();
    for (let n = 1; n <= LIMIT; n++) {
      expect((await signInOptions(`2001:db8:1:2::${n.toString(16)}`)).status).toBe(200);
    }
    expectProblem(await signInOptions('2001:db8:1:2:ffff:ffff:ffff:ffff'), 429, 'rate_limited');
    expect((await signInOptions('2001:db8:1:3::1')).status).toBe(200);
    expect((await signInOptions('198.51.100.3')).status).toBe(200);
  });

  it('does not count requests refused for their body', async () => {
    nextMinute();
    for (let n = 0; n < LIMIT + 2; n++) {
      const refused = await customer.request(
        'POST',
        '/api/v1/auth/sign-in/options',
        { unexpected: true },
        from('198.51.100.4'),
      );
      expectProblem(refused, 400, 'invalid_request');
    }
    for (let n = 0; n < LIMIT; n++) expect((await signInOptions('198.51.100.4')).status).toBe(200);
  });

  it('counts confirming it is you (re-authentication) too', async () => {
    nextMinute();
    const ada = new VaultCustomer(vault.url);
    await ada.signUp();
    const reauthenticate = () =>
      ada.request('POST', '/api/v1/auth/reauthenticate/options', {}, from('198.51.100.5'));
    for (let n = 0; n < LIMIT; n++) expect((await reauthenticate()).status).toBe(200);
    expectProblem(await reauthenticate(), 429, 'rate_limited');
  });
});

describe('the default ceremony budget', () => {
  let vault: TestVault;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { clock: testClock() });
  });
  afterAll(async () => {
    await vault.dispose();
  });

  it(`is ${DEFAULT_CEREMONY_STARTS_PER_MINUTE} starts a minute per address`, async () => {
    const customer = new VaultCustomer(vault.url);
    const start = () => customer.request('POST', '/api/v1/auth/sign-in/options', {});
    for (let n = 0; n < DEFAULT_CEREMONY_STARTS_PER_MINUTE; n++) {
      expect((await start()).status).toBe(200);
    }
    expectProblem(await start(), 429, 'rate_limited');
  });
});
