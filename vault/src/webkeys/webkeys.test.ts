import {
  type AuditEntry,
  auditEntrySchema,
  type IssuedWebkey,
  type IssueWebkeyRequest,
  issuedWebkeySchema,
  jwksSchema,
  redemptionResponseSchema,
  vaultMetadataSchema,
  type WebkeySummary,
  webkeySummarySchema,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';

const WEBKEYS = '/api/v1/webkeys';
const SHORT_CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

const PROFILE = {
  legalName: 'Augusta Ada Byron King',
  preferredName: 'Lovelace',
  birthDate: '1815-12-10',
};
const HOME = {
  recipient: 'Countess of Lovelace',
  lines: ['12 St James Square'],
  locality: 'Westminster',
  postalCode: 'SW1Y 4JH',
  country: 'GB',
};

describe.each(TEST_ENGINES)('web keys on %s', (engine) => {
  // Whole seconds, so a key's iat (seconds) and issuedAt (milliseconds) agree exactly.
  const clock = testClock(Math.floor(Date.now() / 1000) * 1000);
  let vault: TestVault;
  let acme: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    acme = await TestVendor.start('Acme Optics');
  });

  afterAll(async () => {
    await acme?.stop();
    await vault?.dispose();
  });

  async function customer(): Promise<VaultCustomer> {
    const c = new VaultCustomer(vault.url);
    await c.signUp();
    return c;
  }

  async function issue(
    c: VaultCustomer,
    request: Partial<IssueWebkeyRequest> = {},
  ): Promise<IssuedWebkey> {
    const response = await c.request('POST', WEBKEYS, {
      scope: ['address.home'],
      purpose: 'Delivery of order 1042',
      ...request,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return issuedWebkeySchema.parse(response.body);
  }

  async function list(c: VaultCustomer, query = ''): Promise<WebkeySummary[]> {
    const response = await c.request<{ webkeys: unknown[] }>('GET', `${WEBKEYS}${query}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return response.body.webkeys.map((key) => webkeySummarySchema.parse(key));
  }

  async function summary(c: VaultCustomer, id: string): Promise<WebkeySummary> {
    const response = await c.request('GET', `${WEBKEYS}/${id}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return webkeySummarySchema.parse(response.body);
  }

  async function audit(c: VaultCustomer): Promise<AuditEntry[]> {
    const response = await c.request<{ entries: unknown[] }>('GET', '/api/v1/audit?limit=500');
    expect(response.status).toBe(200);
    return response.body.entries.map((entry) => auditEntrySchema.parse(entry));
  }

  async function vaultJwks(): Promise<JSONWebKeySet> {
    const response = await fetch(`${vault.url}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    return jwksSchema.parse(await response.json()) as JSONWebKeySet;
  }

  /** The summary part of an issued key (what the list and GET show). */
  function summaryOf(key: IssuedWebkey): WebkeySummary {
    const { key: _key, shortCode: _code, qr: _qr, ...rest } = key;
    return rest;
  }

  describe('issue', () => {
    it('issues a key with the defaults: ten minutes, one use, any vendor', async () => {
      const c = await customer();
      const issuedAt = clock().getTime();
      const response = await c.request('POST', WEBKEYS, {
        scope: ['address.home', 'profile.age_over_18'],
        purpose: 'Delivery of order 1042',
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const key = issuedWebkeySchema.parse(response.body);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^wk_[A-Za-z0-9_-]{22}$/),
        scope: ['address.home', 'profile.age_over_18'],
        purpose: 'Delivery of order 1042',
        audience: null,
        issuedAt: new Date(issuedAt).toISOString(),
        expiresAt: new Date(issuedAt + 600_000).toISOString(),
        usesTotal: 1,
        usesLeft: 1,
        status: 'active',
        grantDays: null,
        revokedAt: null,
        lastRedeemedAt: null,
        lastVendor: null,
        key: expect.any(String),
        shortCode: expect.stringMatching(SHORT_CODE),
        qr: { svg: expect.any(String), png: expect.any(String), version: expect.any(Number) },
      });

      expect(key.qr.svg.startsWith('<svg') || key.qr.svg.startsWith('<?xml')).toBe(true);
      expect(key.qr.svg).toContain('</svg>');
      expect(key.qr.png).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      const png = Buffer.from(key.qr.png.slice('data:image/png;base64,'.length), 'base64');
      expect(png.subarray(0, 8)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      );
      expect(Number.isInteger(key.qr.version)).toBe(true);
      expect(key.qr.version).toBeGreaterThanOrEqual(1);
      expect(key.qr.version).toBeLessThanOrEqual(40);

      // Listed as issued, and audited.
      expect(await list(c)).toEqual([summaryOf(key)]);
      expect(await summary(c, key.id)).toEqual(summaryOf(key));
      const [issued] = await audit(c);
      expect(issued).toMatchObject({
        event: 'key_issued',
        keyId: key.id,
        paths: ['address.home', 'profile.age_over_18'],
        purpose: 'Delivery of order 1042',
        vendor: null,
        outcome: 'success',
      });
    });

    it('signs the key ES256 with typ webkey+jwt and a kid from the published JWKS', async () => {
      const c = await customer();
      const key = await issue(c);
      const header = decodeProtectedHeader(key.key);
      expect(header).toEqual({ alg: 'ES256', typ: 'webkey+jwt', kid: expect.any(String) });
      const jwks = await vaultJwks();
      expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
      for (const jwk of jwks.keys) {
        expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
        expect(jwk).not.toHaveProperty('d');
      }

      const { payload, protectedHeader } = await jwtVerify(key.key, createLocalJWKSet(jwks), {
        issuer: vault.url,
        typ: 'webkey+jwt',
        algorithms: ['ES256'],
        currentDate: clock(),
      });
      expect(protectedHeader.kid).toBe(header.kid);
      expect(payload.jti).toBe(key.id);
    });

    it('carries exactly iss, jti, iat, exp, scope, purpose and uses (and aud when bound)', async () => {
      const c = await customer();
      const now = Math.floor(clock().getTime() / 1000);
      const open = await issue(c, {
        scope: ['address.home', 'contact'],
        purpose: 'Loyalty sign-up',
        lifetimeSeconds: 3600,
        uses: 5,
      });
      expect(decodeJwt(open.key)).toEqual({
        iss: vault.url,
        jti: open.id,
        iat: now,
        exp: now + 3600,
        scope: ['address.home', 'contact'],
        purpose: 'Loyalty sign-up',
        uses: 5,
      });
      expect(open).toMatchObject({
        usesTotal: 5,
        usesLeft: 5,
        expiresAt: new Date((now + 3600) * 1000).toISOString(),
      });

      const bound = await issue(c, { audience: acme.id, lifetimeSeconds: 30 });
      expect(decodeJwt(bound.key)).toEqual({
        iss: vault.url,
        aud: acme.id,
        jti: bound.id,
        iat: now,
        exp: now + 30,
        scope: ['address.home'],
        purpose: 'Delivery of order 1042',
        uses: 1,
      });
      expect(bound.audience).toBe(acme.id);
      const https = await issue(c, { audience: 'https://shop.example/webkey-vendor.json' });
      expect(decodeJwt(https.key).aud).toBe('https://shop.example/webkey-vendor.json');
    });

    it('puts no personal data and no customer identifier into the key', async () => {
      const c = await customer();
      for (const [path, content] of [
        ['profile', PROFILE],
        ['address.home', HOME],
      ] as const) {
        const written = await c.request('PUT', `/api/v1/records/${path}`, content);
        expect(written.status).toBe(201);
      }
      const userHandle = c.authenticator.credentials[0]?.userHandle;
      expect(userHandle).toBeDefined();
      const row = await vault.ctx.db
        .selectFrom('customers')
        .select('id')
        .where('user_handle', '=', userHandle!)
        .executeTakeFirst();
      expect(row?.id).toMatch(/^cus_/);

      const key = await issue(c, {
        scope: ['profile', 'address.home', 'profile.age_over_21'],
        audience: acme.id,
        uses: 3,
      });
      const decoded = JSON.stringify([decodeProtectedHeader(key.key), decodeJwt(key.key)]);
      for (const secret of [
        PROFILE.legalName,
        PROFILE.preferredName,
        PROFILE.birthDate,
        '1815',
        HOME.recipient,
        HOME.lines[0],
        HOME.locality,
        HOME.postalCode,
        row!.id,
        userHandle!,
      ]) {
        expect(decoded, secret).not.toContain(secret);
        expect(key.key, secret).not.toContain(secret);
      }
      // The QR code encodes the key and nothing more.
      expect(key.qr.svg).not.toContain(PROFILE.legalName);
    });

    it('gives every key its own id and short code', async () => {
      const c = await customer();
      const keys = await Promise.all(Array.from({ length: 5 }, () => issue(c)));
      expect(new Set(keys.map((k) => k.id)).size).toBe(5);
      expect(new Set(keys.map((k) => k.shortCode)).size).toBe(5);
      for (const key of keys) expect(key.shortCode).toMatch(SHORT_CODE);
    });

    const refusals: [string, Record<string, unknown>, string[]][] = [
      ['an unknown scope item', { scope: ['address.home', 'foo.bar'] }, ['/scope/1']],
      ['an age claim of 0 years', { scope: ['profile.age_over_0'] }, ['/scope/0']],
      ['an age claim over 150 years', { scope: ['profile.age_over_151'] }, ['/scope/0']],
      ['a bare category that needs a label', { scope: ['address'] }, ['/scope/0']],
      [
        'a duplicate scope item',
        { scope: ['address.home', 'contact', 'address.home'] },
        ['/scope'],
      ],
      [
        'two age thresholds (together they bracket the age)',
        { scope: ['profile.age_over_18', 'address.home', 'profile.age_over_21'] },
        ['/scope'],
      ],
      [
        'a standing grant to any vendor with more than one use',
        { grantDays: 30, uses: 2 },
        ['/uses'],
      ],
      ['an empty scope', { scope: [] }, ['/scope']],
      ['a scope that is not a list', { scope: 'address.home' }, ['/scope']],
      ['a lifetime over 86400 s', { lifetimeSeconds: 86_401 }, ['/lifetimeSeconds']],
      ['a lifetime under 30 s', { lifetimeSeconds: 29 }, ['/lifetimeSeconds']],
      ['a fractional lifetime', { lifetimeSeconds: 60.5 }, ['/lifetimeSeconds']],
      ['0 uses', { uses: 0 }, ['/uses']],
      ['101 uses', { uses: 101 }, ['/uses']],
      ['an audience that is not a URL', { audience: 'acme optics' }, ['/audience']],
      ['an ftp audience', { audience: 'ftp://acme.example/webkey-vendor.json' }, ['/audience']],
      ['an empty purpose', { purpose: '' }, ['/purpose']],
      ['a blank purpose', { purpose: '   ' }, ['/purpose']],
      ['a purpose over 200 characters', { purpose: 'x'.repeat(201) }, ['/purpose']],
      ['no purpose', { purpose: undefined }, ['/purpose']],
      ['an unknown field', { customerId: 'cus_x' }, ['/customerId']],
    ];

    it.each(refusals)(
      'refuses %s with 400 and a pointer, storing nothing',
      async (_, patch, pointers) => {
        const c = await customer();
        const existing = await issue(c);
        const before = await list(c, '?all=true');
        const auditBefore = await audit(c);
        const response = await c.request('POST', WEBKEYS, {
          scope: ['address.home'],
          purpose: 'Delivery of order 1042',
          ...patch,
        });
        const problem = expectProblem(response, 400, 'invalid_request');
        expect(problem.errors?.map((e) => e.pointer)).toEqual(pointers);
        expect(await list(c, '?all=true')).toEqual(before);
        expect(before).toEqual([summaryOf(existing)]);
        expect(await audit(c)).toEqual(auditBefore);
      },
    );

    it('accepts the limits themselves: 30 s and 86400 s, 1 and 100 uses, 200-character purpose', async () => {
      const c = await customer();
      const short = await issue(c, { lifetimeSeconds: 30, uses: 100 });
      expect(Date.parse(short.expiresAt) - Date.parse(short.issuedAt)).toBe(30_000);
      expect(short.usesTotal).toBe(100);
      const long = await issue(c, { lifetimeSeconds: 86_400, purpose: 'p'.repeat(200) });
      expect(Date.parse(long.expiresAt) - Date.parse(long.issuedAt)).toBe(86_400_000);
      expect(long.purpose).toHaveLength(200);
      for (const threshold of ['profile.age_over_1', 'profile.age_over_150']) {
        expect((await issue(c, { scope: [threshold] })).scope).toEqual([threshold]);
      }
      // A standing grant with several uses, for one named vendor only.
      const bound = await issue(c, {
        grantDays: 30,
        uses: 3,
        audience: 'https://acme.example/webkey-vendor.json',
      });
      expect([bound.grantDays, bound.usesTotal]).toEqual([30, 3]);
    });
  });

  describe('list, look up, revoke', () => {
    it('lists active keys newest first, and every key with all=true', async () => {
      const c = await customer();
      const expiring = await issue(c, { purpose: 'Expiring', lifetimeSeconds: 30 });
      clock.advance(1000);
      const revoked = await issue(c, { purpose: 'Revoked' });
      clock.advance(1000);
      const active = await issue(c, { purpose: 'Active' });
      clock.advance(1000);
      const newest = await issue(c, { purpose: 'Newest' });
      expect((await list(c)).map((k) => k.id)).toEqual([
        newest.id,
        active.id,
        revoked.id,
        expiring.id,
      ]);

      expect((await c.request('DELETE', `${WEBKEYS}/${revoked.id}`)).status).toBe(200);
      clock.advance(30_000);

      expect(await list(c)).toEqual([summaryOf(newest), summaryOf(active)]);
      expect(await list(c, '?all=false')).toEqual(await list(c));
      const all = await list(c, '?all=true');
      expect(all.map((k) => [k.id, k.status])).toEqual([
        [newest.id, 'active'],
        [active.id, 'active'],
        [revoked.id, 'revoked'],
        [expiring.id, 'expired'],
      ]);
      expect(await summary(c, expiring.id)).toMatchObject({ status: 'expired', usesLeft: 1 });
    });

    it('shows status, usesLeft and the last vendor after a redemption', async () => {
      const c = await customer();
      expect((await c.request('PUT', '/api/v1/records/address.home', HOME)).status).toBe(201);
      const key = await issue(c, { uses: 2 });
      clock.advance(5000);
      const now = Math.floor(clock().getTime() / 1000);
      const redeem = async () =>
        acme.redeem(
          vault.url,
          { key: key.key },
          { assertion: await acme.assertion(vault.url, { claims: { iat: now, exp: now + 60 } }) },
        );
      const first = await redeem();
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(redemptionResponseSchema.parse(first.body).usesLeft).toBe(1);
      expect(await summary(c, key.id)).toEqual({
        ...summaryOf(key),
        usesLeft: 1,
        status: 'active',
        lastRedeemedAt: clock().toISOString(),
        lastVendor: { id: acme.id, name: 'Acme Optics' },
      });
      expect((await redeem()).status).toBe(200);
      expect(await summary(c, key.id)).toMatchObject({
        usesLeft: 0,
        status: 'used',
        lastVendor: { id: acme.id, name: 'Acme Optics' },
      });
      expect((await list(c)).map((k) => k.id)).not.toContain(key.id);
      expect((await list(c, '?all=true')).find((k) => k.id === key.id)?.status).toBe('used');
    });

    it('revokes a key: status revoked, gone from the active list, audited once', async () => {
      const c = await customer();
      const key = await issue(c);
      const keep = await issue(c);
      clock.advance(2000);
      const revokedAt = clock().toISOString();
      const response = await c.request('DELETE', `${WEBKEYS}/${key.id}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const revoked = webkeySummarySchema.parse(response.body);
      expect(revoked).toEqual({ ...summaryOf(key), status: 'revoked', revokedAt });
      expect(await summary(c, key.id)).toEqual(revoked);
      expect((await list(c)).map((k) => k.id)).toEqual([keep.id]);

      // Revoking again changes nothing and is fine.
      clock.advance(2000);
      const again = await c.request('DELETE', `${WEBKEYS}/${key.id}`);
      expect(again.status).toBe(200);
      expect(webkeySummarySchema.parse(again.body)).toEqual(revoked);
      const entries = (await audit(c)).filter((e) => e.keyId === key.id);
      expect(entries.map((e) => e.event)).toEqual(['key_revoked', 'key_issued']);
      expect(entries[0]).toMatchObject({ at: revokedAt, paths: ['address.home'] });
    });

    it("answers 404 for another customer's key and for unknown ids, changing nothing", async () => {
      const owner = await customer();
      const other = await customer();
      const key = await issue(owner);
      expectProblem(await other.request('GET', `${WEBKEYS}/${key.id}`), 404, 'not_found');
      expectProblem(await other.request('DELETE', `${WEBKEYS}/${key.id}`), 404, 'not_found');
      expect(await list(other, '?all=true')).toEqual([]);
      expect(await summary(owner, key.id)).toEqual(summaryOf(key));
      expect((await audit(owner)).filter((e) => e.event === 'key_revoked')).toEqual([]);
      for (const id of ['wk_AAAAAAAAAAAAAAAAAAAAAA', 'nope']) {
        expectProblem(await owner.request('GET', `${WEBKEYS}/${id}`), 404, 'not_found');
        expectProblem(await owner.request('DELETE', `${WEBKEYS}/${id}`), 404, 'not_found');
      }
    });

    it('refuses every web key request without a session (401) or from another origin (403)', async () => {
      const owner = await customer();
      const key = await issue(owner);
      const anonymous = new VaultCustomer(vault.url);
      const requests: [string, string, unknown?][] = [
        ['POST', WEBKEYS, { scope: ['address.home'], purpose: 'x' }],
        ['GET', WEBKEYS],
        ['GET', `${WEBKEYS}?all=true`],
        ['GET', `${WEBKEYS}/${key.id}`],
        ['DELETE', `${WEBKEYS}/${key.id}`],
      ];
      for (const [method, path, body] of requests) {
        expectProblem(await anonymous.request(method, path, body), 401, 'unauthenticated');
      }
      expectProblem(
        await owner.request('DELETE', `${WEBKEYS}/${key.id}`, undefined, {
          origin: 'https://evil.example',
        }),
        403,
        'forbidden_origin',
      );
      expectProblem(
        await owner.request(
          'POST',
          WEBKEYS,
          { scope: ['address.home'], purpose: 'x' },
          { origin: 'https://evil.example' },
        ),
        403,
        'forbidden_origin',
      );
      expect(await list(owner, '?all=true')).toEqual([summaryOf(key)]);
    });
  });

  describe('discovery', () => {
    it('publishes the vault metadata naming the redemption endpoint', async () => {
      const response = await fetch(`${vault.url}/.well-known/webkey-vault`);
      expect(response.status).toBe(200);
      const metadata = vaultMetadataSchema.parse(await response.json());
      expect(metadata).toMatchObject({
        issuer: vault.url,
        jwks_uri: `${vault.url}/.well-known/jwks.json`,
        redemption_endpoint: `${vault.url}/vendor/v1/redeem`,
        webkey_signing_alg_values_supported: ['ES256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        short_code_symbols: 12,
        webkey_max_lifetime_seconds: 86_400,
        openapi_uri: `${vault.url}/openapi.json`,
      });
      expect(metadata.claims_supported).toContain('profile.age_over_<N>');
      const jwks = await fetch(metadata.jwks_uri);
      expect(jwksSchema.parse(await jwks.json()).keys.length).toBeGreaterThan(0);
    });

    it('serves an OpenAPI 3.1 document that describes redemption', async () => {
      const response = await fetch(`${vault.url}/openapi.json`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const document = (await response.json()) as {
        openapi: string;
        paths: Record<string, Record<string, unknown>>;
      };
      expect(document.openapi).toBe('3.1.0');
      expect(Object.keys(document.paths)).toContain('/vendor/v1/redeem');
      expect(document.paths['/vendor/v1/redeem']).toHaveProperty('post');
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining(['/api/v1/webkeys', '/api/v1/webkeys/{id}', '/api/v1/audit']),
      );
    });
  });
});
