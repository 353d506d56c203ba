import {
  CLIENT_ASSERTION_TYPE,
  DEPOSIT_JWT_TYPE,
  type IssuedWebkey,
  redemptionResponseSchema,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openEntry } from '../audit/audit-log.ts';
import { seal } from '../crypto/aead.ts';
import { systemRandom } from '../deps.ts';
import { customerDataKey } from '../records/record-crypto.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault } from '../testing/test-vault.ts';
import { VendorMetadataError } from '../vendors/vendor-registry.ts';
import { legacyDepositSealContext, MAX_PENDING_DEPOSITS_PER_VENDOR } from './deposit-record.ts';

describe.each(TEST_ENGINES)('deposits on %s', (engine) => {
  let vault: TestVault;
  let vendor: TestVendor;
  let grantId: string;
  const SECRET_TITLE = 'Invoice for secret surgery 7731';

  /** A new customer whose key, redeemed by `redeemer`, opened a grant that takes receipts. */
  async function newGrant(redeemer = vendor): Promise<{ id: string; customer: VaultCustomer }> {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect('PUT', '/api/v1/records/profile', { legalName: 'Pat' }, 201);
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['profile'], purpose: 'Visit', grantDays: 10, grantWrites: ['receipt'] },
      201,
    );
    const redeemed = await redeemer.redeem(vault.url, { key: issued.key });
    return { id: redemptionResponseSchema.parse(redeemed.body).grant!.id, customer };
  }

  beforeAll(async () => {
    vault = await startTestVault(engine, { config: { devMode: true } });
    vendor = await TestVendor.start('Clinic');
    grantId = (await newGrant()).id;
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

  const claims = (grant = grantId) => ({
    grant,
    kind: 'receipt',
    ref: `R-${Math.random()}`,
    content: { title: SECRET_TITLE, issuedOn: '2026-11-23' },
  });
  const sign = (
    key: CryptoKey,
    typ = DEPOSIT_JWT_TYPE,
    aud = vault.url,
    jti = crypto.randomUUID(),
    grant = grantId,
  ) =>
    new SignJWT(claims(grant))
      .setProtectedHeader({ alg: 'ES256', typ, kid: vendor.publicJwk.kid })
      .setIssuer(vendor.id)
      .setAudience(aud)
      .setIssuedAt()
      .setJti(jti)
      .sign(key);

  async function count(table: 'deposits' | 'audit_entries'): Promise<number> {
    const row = await vault.ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  it('takes a deposit signed by the vendor and stores it sealed', async () => {
    const answer = await deposit(await sign(vendor.privateKey));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const rows = await vault.ctx.db.selectFrom('deposits').select(['content', 'signed']).execute();
    const raw = Buffer.concat(
      rows.flatMap((row) => [Buffer.from(row.content), Buffer.from(row.signed)]),
    ).toString('latin1');
    expect(raw).not.toContain(SECRET_TITLE);
  });

  it('checks the signature against the document the assertion verified with: no second fetch to fail', async () => {
    const real = vault.ctx.vendors.get.bind(vault.ctx.vendors);
    // The vendor's document cannot be had again once the assertion has been checked with it.
    const get = vi
      .spyOn(vault.ctx.vendors, 'get')
      .mockImplementation((...args) =>
        get.mock.calls.length > 1 ? Promise.reject(new VendorMetadataError('gone')) : real(...args),
      );
    try {
      const answer = await deposit(await sign(vendor.privateKey));
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    } finally {
      get.mockRestore();
    }
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

  it('answers the same signed deposit sent again (a retry) with the first answer, storing nothing more', async () => {
    const signed = await sign(vendor.privateKey);
    const first = await deposit(signed);
    expect(first.status).toBe(201);
    const [deposits, entries] = [await count('deposits'), await count('audit_entries')];
    const again = await deposit(signed);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect([await count('deposits'), await count('audit_entries')]).toEqual([deposits, entries]);
  });

  it('stores a deposit once when its retries race (every answer the same)', async () => {
    const signed = await sign(vendor.privateKey);
    const before = await count('deposits');
    const answers = await Promise.all(Array.from({ length: 5 }, () => deposit(signed)));
    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((answer) => JSON.stringify(answer.body))).size).toBe(1);
    expect(await count('deposits')).toBe(before + 1);
  });

  it('refuses another deposit under a jti the vendor used before, storing nothing', async () => {
    const jti = crypto.randomUUID();
    expect(
      (await deposit(await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, jti))).status,
    ).toBe(201);
    const before = await count('deposits');
    const reused = await deposit(await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, jti));
    expectProblem(reused, 400, 'invalid_request');
    expect(JSON.stringify(reused.body)).toContain('jti');
    expect(await count('deposits')).toBe(before);
  });

  it('stores one of two deposits racing under one jti for two customers, and refuses the other', async () => {
    const jti = crypto.randomUUID();
    const otherGrant = (await newGrant()).id;
    const signed = await Promise.all(
      [grantId, otherGrant].map((grant) =>
        sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, jti, grant),
      ),
    );
    const answers = await Promise.all(signed.map((one) => deposit(one)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 400]);
    const stored = await vault.ctx.db
      .selectFrom('deposits')
      .select('id')
      .where('jti', '=', jti)
      .execute();
    expect(stored).toHaveLength(1);
  });

  it("binds a deposit's columns to its sealed content: a changed sender or kind does not open", async () => {
    const { id, customer } = await newGrant();
    const answer = await deposit(
      await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, undefined, id),
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const depositId = (answer.body as { depositId: string }).depositId;
    const inbox = () => customer.request('GET', '/api/v1/inbox');
    expect((await inbox()).status).toBe(200);
    const original = await vault.ctx.db
      .selectFrom('deposits')
      .select(['vendor_name', 'kind'])
      .where('id', '=', depositId)
      .executeTakeFirstOrThrow();
    for (const change of [{ vendor_name: 'Your Bank' }, { kind: 'prescription' }]) {
      await vault.ctx.db.updateTable('deposits').set(change).where('id', '=', depositId).execute();
      const tampered = await inbox();
      expect(tampered.status).toBe(500);
      expect(JSON.stringify(tampered.body)).not.toContain(SECRET_TITLE);
      await vault.ctx.db
        .updateTable('deposits')
        .set(original)
        .where('id', '=', depositId)
        .execute();
      expect((await inbox()).status).toBe(200);
    }
  });

  it('still opens deposits sealed before their columns were bound (2026-12-03)', async () => {
    const { id, customer } = await newGrant();
    const answer = await deposit(
      await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, undefined, id),
    );
    const depositId = (answer.body as { depositId: string }).depositId;
    const row = await vault.ctx.db
      .selectFrom('deposits')
      .select(['customer_id'])
      .where('id', '=', depositId)
      .executeTakeFirstOrThrow();
    const dataKey = await customerDataKey(vault.ctx, vault.ctx.db, row.customer_id);
    const legacy = seal(
      dataKey,
      Buffer.from(JSON.stringify({ title: 'Sealed the old way', issuedOn: '2026-11-23' })),
      legacyDepositSealContext('content', row.customer_id, depositId),
      systemRandom,
    );
    await vault.ctx.db
      .updateTable('deposits')
      .set({ content: legacy })
      .where('id', '=', depositId)
      .execute();
    const listed = await customer.expect<{
      deposits: { id: string; content: { title: string } }[];
    }>('GET', '/api/v1/inbox');
    expect(listed.deposits.find((d) => d.id === depositId)?.content.title).toBe(
      'Sealed the old way',
    );
  });

  it('answers a retry with the first answer even after the grant was revoked', async () => {
    const { id, customer } = await newGrant();
    const signed = await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, undefined, id);
    const first = await deposit(signed);
    expect(first.status).toBe(201);
    expect((await customer.request('DELETE', `/api/v1/grants/${id}`)).status).toBe(200);
    const again = await deposit(signed);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const fresh = await sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, undefined, id);
    expectProblem(await deposit(fresh), 403, 'grant_refused');
  });

  it("gives another vendor the grant refusal under this vendor's grant, whatever jti it sends", async () => {
    const other = await TestVendor.start('Other Clinic');
    try {
      const { id: ownGrant } = await newGrant(other);
      const jti = crypto.randomUUID();
      const signFor = (grant: string) =>
        new SignJWT(claims(grant))
          .setProtectedHeader({ alg: 'ES256', typ: DEPOSIT_JWT_TYPE, kid: other.publicJwk.kid })
          .setIssuer(other.id)
          .setAudience(vault.url)
          .setIssuedAt()
          .setJti(jti)
          .sign(other.privateKey);
      expect(
        (await deposit(await signFor(ownGrant), await other.assertion(vault.url))).status,
      ).toBe(201);
      const intruding = await deposit(await signFor(grantId), await other.assertion(vault.url));
      expectProblem(intruding, 403, 'grant_refused');
    } finally {
      await other.stop();
    }
  });

  it("keeps another vendor's words out of the customer's log when it names their grant", async () => {
    const other = await TestVendor.start('Vault support: call +1 555 0100');
    try {
      const lure = 'Your vault is locked: call +1 555 0100';
      const signed = await new SignJWT({
        grant: grantId,
        kind: 'receipt',
        ref: 'CALL-555-0100',
        content: { title: lure, issuedOn: '2026-11-23' },
      })
        .setProtectedHeader({ alg: 'ES256', typ: DEPOSIT_JWT_TYPE, kid: other.publicJwk.kid })
        .setIssuer(other.id)
        .setAudience(vault.url)
        .setIssuedAt()
        .setJti(crypto.randomUUID())
        .sign(other.privateKey);
      expectProblem(await deposit(signed, await other.assertion(vault.url)), 403, 'grant_refused');
      const rows = await vault.ctx.db
        .selectFrom('audit_entries')
        .select(['customer_id', 'seq', 'body'])
        .where('event', '=', 'deposit_refused')
        .where('vendor_id', '=', other.id)
        .execute();
      expect(rows).toHaveLength(1);
      const dataKey = await customerDataKey(vault.ctx, vault.ctx.db, rows[0]!.customer_id);
      const entry = openEntry(rows[0]!.customer_id, dataKey, rows[0]!);
      expect(entry).toMatchObject({ reason: 'not_for_this_vendor', paths: [], purpose: null });
      expect(entry.vendor).toEqual({ id: other.id, name: new URL(other.id).host });
      // Not the digits alone: the entry's hex hashes may hold them.
      expect(JSON.stringify(entry)).not.toContain('+1 555');
    } finally {
      await other.stop();
    }
  });

  it(`holds at most ${MAX_PENDING_DEPOSITS_PER_VENDOR} undecided deposits from one vendor in an inbox (403 inbox_full), until the customer decides`, async () => {
    const { id, customer } = await newGrant();
    const signUnder = () => sign(vendor.privateKey, DEPOSIT_JWT_TYPE, vault.url, undefined, id);
    for (let sent = 0; sent < MAX_PENDING_DEPOSITS_PER_VENDOR; sent += 25) {
      const batch = await Promise.all(Array.from({ length: 25 }, signUnder));
      const answers = await Promise.all(batch.map((signed) => deposit(signed)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(25).fill(201));
    }
    const full = await deposit(await signUnder());
    expectProblem(full, 403, 'inbox_full');
    const inbox = await customer.expect<{ deposits: { id: string }[] }>('GET', '/api/v1/inbox');
    expect(inbox.deposits).toHaveLength(MAX_PENDING_DEPOSITS_PER_VENDOR);
    await customer.expect('POST', `/api/v1/inbox/${inbox.deposits[0]!.id}/discard`, {});
    expect((await deposit(await signUnder())).status).toBe(201);
  });
});
