import {
  CLIENT_ASSERTION_TYPE,
  DEPOSIT_JWT_TYPE,
  type IssuedWebkey,
  redemptionResponseSchema,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault } from '../testing/test-vault.ts';

describe.each(TEST_ENGINES)('deposits on %s', (engine) => {
  let vault: TestVault;
  let vendor: TestVendor;
  let grantId: string;
  const SECRET_TITLE = 'Invoice for secret surgery 7731';

  beforeAll(async () => {
    vault = await startTestVault(engine, { config: { devMode: true } });
    vendor = await TestVendor.start('Clinic');
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect('PUT', '/api/v1/records/profile', { legalName: 'Pat' }, 201);
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile'], purpose: 'Visit', grantDays: 10, grantWrites: ['receipt'] },
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

  async function deposit(signed: string, assertion?: string) {
    const response = await fetch(`${vault.url}/vendor/v1/deposit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        deposit: signed,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion ?? (await vendor.assertion(vault.url)),
      }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as unknown,
    };
  }

  const claims = () => ({
    grant: grantId,
    kind: 'receipt',
    ref: `R-${Math.random()}`,
    content: { title: SECRET_TITLE, issuedOn: '2026-11-23' },
  });
  const sign = (key: CryptoKey, typ = DEPOSIT_JWT_TYPE, aud = vault.url) =>
    new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ, kid: vendor.publicJwk.kid })
      .setIssuer(vendor.id)
      .setAudience(aud)
      .setIssuedAt()
      .setJti(crypto.randomUUID())
      .sign(key);

  it('takes a deposit signed by the vendor and stores it sealed', async () => {
    const answer = await deposit(await sign(vendor.privateKey));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const rows = await vault.ctx.db.selectFrom('deposits').select(['content', 'signed']).execute();
    const raw = Buffer.concat(
      rows.flatMap((row) => [Buffer.from(row.content), Buffer.from(row.signed)]),
    ).toString('latin1');
    expect(raw).not.toContain(SECRET_TITLE);
  });

  it.each([
    [
      'signed by a key not in the vendor metadata',
      async () => sign((await generateKeyPair('ES256')).privateKey as CryptoKey),
    ],
    ['of another JWT type', async () => sign(vendor.privateKey, 'JWT')],
    [
      'meant for another vault',
      async () => sign(vendor.privateKey, DEPOSIT_JWT_TYPE, 'https://other.example'),
    ],
  ])('refuses a deposit %s and stores nothing', async (_name, make) => {
    const before = (await vault.ctx.db.selectFrom('deposits').select('id').execute()).length;
    expectProblem(await deposit(await make()), 400, 'invalid_request');
    expect((await vault.ctx.db.selectFrom('deposits').select('id').execute()).length).toBe(before);
  });

  const underUnknownGrant = () =>
    new SignJWT({ ...claims(), grant: 'grt_AAAAAAAAAAAAAAAAAAAAAA' })
      .setProtectedHeader({ alg: 'ES256', typ: DEPOSIT_JWT_TYPE, kid: vendor.publicJwk.kid })
      .setIssuer(vendor.id)
      .setAudience(vault.url)
      .setIssuedAt()
      .setJti(crypto.randomUUID())
      .sign(vendor.privateKey);

  it('refuses a deposit under a grant that does not exist, storing nothing', async () => {
    const before = (await vault.ctx.db.selectFrom('deposits').select('id').execute()).length;
    expectProblem(await deposit(await underUnknownGrant()), 403, 'grant_refused');
    expect((await vault.ctx.db.selectFrom('deposits').select('id').execute()).length).toBe(before);
  });

  it.each([
    [400, 'invalid_request', () => sign(vendor.privateKey, 'JWT')],
    [403, 'grant_refused', underUnknownGrant],
  ])(
    'spends the assertion of a deposit refused with %i: it cannot be used again',
    async (status, code, make) => {
      const assertion = await vendor.assertion(vault.url);
      expectProblem(await deposit(await make(), assertion), status, code);
      const before = (await vault.ctx.db.selectFrom('deposits').select('id').execute()).length;
      expectProblem(await deposit(await sign(vendor.privateKey), assertion), 401, 'invalid_client');
      expect((await vault.ctx.db.selectFrom('deposits').select('id').execute()).length).toBe(
        before,
      );
    },
  );
});
