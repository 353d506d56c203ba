import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import {
  type AuditEntry,
  type AuditExport,
  auditEntrySchema,
  CLIENT_ASSERTION_JWT_TYPE,
  CLIENT_ASSERTION_TYPE,
  formatShortCode,
  type IssuedWebkey,
  type IssueWebkeyRequest,
  issuedWebkeySchema,
  jwksSchema,
  problemSchema,
  type RecordVersion,
  type RedemptionResponse,
  recordVersionSchema,
  redemptionResponseSchema,
  type WebkeySummary,
  webkeySummarySchema,
} from '@webkey/protocol';
import { type RawAnswer, type RedeemOptions, TestVendor, VaultCustomer } from '@webkey/testkit';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemRandom } from '../deps.ts';
import { sweepExpired } from '../housekeeping.ts';
import { rotateSigningKey } from '../signing/signing-keys.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';

const WEBKEYS = '/api/v1/webkeys';

/** The order n of the P-256 group: (r, s) and (r, n - s) both verify (ECDSA is malleable). */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const HOME = {
  recipient: 'Ada King',
  lines: ['12 St James Square'],
  locality: 'London',
  postalCode: 'SW1Y 4JH',
  country: 'GB',
};
const WORK = {
  recipient: 'Analytical Engine Office',
  lines: ['7 Babbage Mews'],
  locality: 'Marylebone',
  postalCode: 'NW1 5QT',
  country: 'GB',
};
const INSURANCE = {
  insurer: 'Acme Health',
  plan: 'Gold',
  memberId: 'M-9931-4471',
  groupNumber: 'G-77',
  policyholder: 'Ada King',
  validUntil: '2027-12-31',
};
const PROFILE = {
  legalName: 'Augusta Ada Byron King',
  preferredName: 'Ada',
  birthDate: '1990-04-17',
};

/** A problem body without its per-request id, for comparing refusals. */
function withoutRequestId(body: unknown): Record<string, unknown> {
  const { requestId: _requestId, ...rest } = body as Record<string, unknown>;
  return rest;
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** The three segments of a compact JWS. */
function segments(jws: string): [string, string, string] {
  const [header, payload, signature] = jws.split('.');
  if (header === undefined || payload === undefined || signature === undefined)
    throw new Error(`not a compact JWS: ${jws}`);
  return [header, payload, signature];
}

describe.each(TEST_ENGINES)('web key redemption on %s', (engine) => {
  // The vault's clock starts at the real time (vendors sign assertions with clock time below).
  const clock = testClock(Math.floor(Date.now() / 1000) * 1000);
  let vault: TestVault;
  let acme: TestVendor;
  let globex: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    acme = await TestVendor.start('Acme Optics');
    globex = await TestVendor.start('Globex Pharmacy');
  });

  afterAll(async () => {
    await acme?.stop();
    await globex?.stop();
    await vault?.dispose();
  });

  /** A valid client assertion for the vault, dated by the vault's clock; claims can be forged. */
  async function assertion(
    vendor: TestVendor,
    overrides: { claims?: JWTPayload; header?: Record<string, unknown>; key?: CryptoKey } = {},
  ): Promise<string> {
    const now = Math.floor(clock().getTime() / 1000);
    return vendor.assertion(vault.url, {
      ...overrides,
      claims: { iat: now, exp: now + 60, ...overrides.claims },
    });
  }

  async function redeem(
    vendor: TestVendor,
    presented: { key: string } | { code: string },
    options: RedeemOptions = {},
  ): Promise<RawAnswer> {
    return vendor.redeem(vault.url, presented, {
      ...options,
      assertion: options.assertion ?? (await assertion(vendor)),
    });
  }

  async function redeemed(
    vendor: TestVendor,
    presented: { key: string } | { code: string },
    options: RedeemOptions = {},
  ): Promise<RedemptionResponse> {
    const answer = await redeem(vendor, presented, options);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return redemptionResponseSchema.parse(answer.body);
  }

  async function customer(): Promise<VaultCustomer> {
    const c = new VaultCustomer(vault.url);
    await c.signUp();
    return c;
  }

  async function write(c: VaultCustomer, path: string, content: unknown): Promise<RecordVersion> {
    const response = await c.request('PUT', `/api/v1/records/${path}`, content, {
      'if-none-match': '*',
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return recordVersionSchema.parse(response.body);
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

  async function summary(c: VaultCustomer, id: string): Promise<WebkeySummary> {
    const response = await c.request('GET', `${WEBKEYS}/${id}`);
    expect(response.status).toBe(200);
    return webkeySummarySchema.parse(response.body);
  }

  async function audit(c: VaultCustomer): Promise<AuditEntry[]> {
    const response = await c.request<{ entries: unknown[] }>('GET', '/api/v1/audit?limit=500');
    expect(response.status).toBe(200);
    return response.body.entries.map((entry) => auditEntrySchema.parse(entry));
  }

  async function auditFor(c: VaultCustomer, keyId: string): Promise<AuditEntry[]> {
    return (await audit(c)).filter((entry) => entry.keyId === keyId);
  }

  /** Asserts a key is untouched: still active with every use left and no redemption. */
  async function expectUnused(c: VaultCustomer, key: IssuedWebkey): Promise<void> {
    expect(await summary(c, key.id)).toMatchObject({
      status: 'active',
      usesLeft: key.usesTotal,
      lastRedeemedAt: null,
      lastVendor: null,
    });
    expect((await auditFor(c, key.id)).map((entry) => entry.event)).toEqual(['key_issued']);
  }

  describe('success', () => {
    it('returns exactly the granted fields and claims, and nothing else', async () => {
      const c = await customer();
      const home = await write(c, 'address.home', HOME);
      await write(c, 'address.work', WORK);
      await write(c, 'insurance.primary', INSURANCE);
      await write(c, 'profile', PROFILE);
      const key = await issue(c, {
        scope: ['address.home', 'profile.age_over_21'],
        purpose: 'Contact lens delivery',
      });

      const answer = await redeem(acme, { key: key.key });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      const body = redemptionResponseSchema.parse(answer.body);
      expect(answer.body).toEqual({
        redemptionId: expect.stringMatching(/^red_[A-Za-z0-9_-]{22}$/),
        keyId: key.id,
        issuer: vault.url,
        subject: expect.any(String),
        redeemedAt: clock().toISOString(),
        purpose: 'Contact lens delivery',
        scope: ['address.home', 'profile.age_over_21'],
        usesLeft: 0,
        auditEntryId: expect.stringMatching(/^aud_/),
        fields: {
          'address.home': {
            category: 'address',
            versionId: expect.stringMatching(/^ver_[A-Za-z0-9_-]{22}$/),
            value: HOME,
          },
        },
        claims: { 'profile.age_over_21': true },
        missing: [],
        key: key.key,
      });
      expect(Object.keys(body.fields)).toEqual(['address.home']);
      expect(body.fields['address.home']?.versionId).not.toBe(home.versionId);

      const text = JSON.stringify(answer.body);
      for (const secret of [
        ...WORK.lines,
        WORK.recipient,
        WORK.postalCode,
        INSURANCE.memberId,
        INSURANCE.insurer,
        INSURANCE.groupNumber,
        PROFILE.legalName,
        PROFILE.birthDate,
        '1990',
        'address.work',
        'insurance',
        'birthDate',
        'legalName',
      ]) {
        expect(text, secret).not.toContain(secret);
      }
    });

    it('answers a false age claim when the customer is too young', async () => {
      const c = await customer();
      await write(c, 'profile', PROFILE);
      const key = await issue(c, { scope: ['profile.age_over_150'] });
      const body = await redeemed(acme, { key: key.key });
      expect(body.claims).toEqual({ 'profile.age_over_150': false });
      expect(body.fields).toEqual({});
      expect(JSON.stringify(body)).not.toContain(PROFILE.birthDate);
      expect(JSON.stringify(body)).not.toContain(PROFILE.legalName);
    });

    it('lists the scope items the customer has no data for in missing', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, {
        scope: ['address.home', 'address.billing', 'profile.age_over_18', 'contact'],
      });
      const body = await redeemed(acme, { key: key.key });
      expect(Object.keys(body.fields)).toEqual(['address.home']);
      expect(body.claims).toEqual({});
      expect(body.missing).toEqual(['address.billing', 'profile.age_over_18', 'contact']);
    });

    it('names its entry in the customer audit log: key_redeemed by the vendor from 127.0.0.1', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { scope: ['address.home', 'address.work'], purpose: 'Parcel' });
      const body = await redeemed(acme, { key: key.key });
      const entry = (await audit(c)).find((e) => e.id === body.auditEntryId);
      expect(entry).toBeDefined();
      expect(entry).toMatchObject({
        event: 'key_redeemed',
        vendor: { id: acme.id, name: 'Acme Optics' },
        keyId: key.id,
        paths: ['address.home'],
        purpose: 'Parcel',
        outcome: 'success',
        reason: null,
        at: body.redeemedAt,
      });
      expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(entry?.ip);
      // Exactly one redemption entry for the key.
      expect((await auditFor(c, key.id)).map((e) => e.event)).toEqual([
        'key_redeemed',
        'key_issued',
      ]);
    });

    it('redeems a short code typed in lower case with spaces, answering with the signed key', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c);
      const typed = key.shortCode.toLowerCase().replaceAll('-', ' ');
      expect(typed).not.toBe(key.shortCode);
      const body = await redeemed(acme, { code: ` ${typed} ` });
      expect(body.keyId).toBe(key.id);
      expect(body.fields['address.home']?.value).toEqual(HOME);

      // The returned key is a vault-signed web key with the same claims as the issued one.
      const jwks = jwksSchema.parse(
        await (await fetch(`${vault.url}/.well-known/jwks.json`)).json(),
      );
      const { payload, protectedHeader } = await jwtVerify(
        body.key,
        createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]),
        {
          issuer: vault.url,
          typ: 'webkey+jwt',
          algorithms: ['ES256'],
          currentDate: clock(),
        },
      );
      expect(protectedHeader.typ).toBe('webkey+jwt');
      expect(payload).toEqual(decodeJwt(key.key));
      expect(payload.jti).toBe(key.id);

      // The code is used up like the key would be.
      expectProblem(await redeem(acme, { code: key.shortCode }), 403, 'webkey_refused');
      expectProblem(await redeem(acme, { key: key.key }), 403, 'webkey_refused');
    });

    it('redeems the key a short-code redemption answered with, like the key itself', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 3 });
      const byCode = await redeemed(acme, { code: key.shortCode });
      expect(byCode.key).not.toBe(key.key);
      const byReturnedKey = await redeemed(acme, { key: byCode.key });
      expect(byReturnedKey).toMatchObject({ keyId: key.id, usesLeft: 1 });
      expect((await redeemed(acme, { key: key.key })).usesLeft).toBe(0);
      expectProblem(await redeem(acme, { key: byCode.key }), 403, 'webkey_refused');
    });

    it('gives each vendor a stable pairwise subject per customer, unlinkable across vendors and customers', async () => {
      const ada = await customer();
      const bob = await customer();
      const adaFirst = await redeemed(acme, { key: (await issue(ada)).key });
      const adaSecond = await redeemed(acme, { key: (await issue(ada)).key });
      const adaGlobex = await redeemed(globex, { key: (await issue(ada)).key });
      const bobAcme = await redeemed(acme, { key: (await issue(bob)).key });
      expect(adaFirst.subject).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(adaSecond.subject).toBe(adaFirst.subject);
      expect(adaGlobex.subject).not.toBe(adaFirst.subject);
      expect(bobAcme.subject).not.toBe(adaFirst.subject);
      expect(bobAcme.subject).not.toBe(adaGlobex.subject);
      // Not derived from anything the vendor could see elsewhere.
      expect(adaFirst.subject).not.toBe(adaFirst.keyId);
    });

    it("gives each vendor its own version ids: new with every write, never the vault's id or another vendor's", async () => {
      const c = await customer();
      const first = await write(c, 'preferences', { language: 'en' });
      const read = async (vendor: typeof acme) =>
        (await redeemed(vendor, { key: (await issue(c, { scope: ['preferences'] })).key })).fields
          .preferences?.versionId;
      const acmeFirst = await read(acme);
      const globexFirst = await read(globex);
      expect(acmeFirst).toMatch(/^ver_[A-Za-z0-9_-]{22}$/);
      expect(await read(acme)).toBe(acmeFirst);
      // The same version, read by two vendors: nothing to join their customer lists on.
      expect(globexFirst).not.toBe(acmeFirst);
      expect([acmeFirst, globexFirst]).not.toContain(first.versionId);
      const changed = await c.request(
        'PUT',
        '/api/v1/records/preferences',
        { language: 'fr' },
        { 'if-match': `"${first.versionId}"` },
      );
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      const acmeSecond = await read(acme);
      expect(acmeSecond).not.toBe(acmeFirst);
      expect(await read(globex)).not.toBe(globexFirst);
    });

    it('needs no Origin header, and ignores a foreign one (vendors are not browsers)', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 2 });
      const body = JSON.stringify({
        key: key.key,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await assertion(acme),
      });
      const url = new URL('/vendor/v1/redeem', vault.url);
      const raw = await new Promise<{ status: number; headers: http.IncomingHttpHeaders }>(
        (resolve, reject) => {
          const request = http.request(
            url,
            {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
              },
            },
            (response) => {
              response.resume();
              response.on('end', () =>
                resolve({ status: response.statusCode ?? 0, headers: response.headers }),
              );
            },
          );
          request.on('error', reject);
          expect(request.getHeader('origin')).toBeUndefined();
          request.end(body);
        },
      );
      expect(raw.status).toBe(200);
      expect(raw.headers['cache-control']).toBe('no-store');

      const foreign = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
        body: JSON.stringify({
          key: key.key,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: await assertion(acme),
        }),
      });
      expect(foreign.status).toBe(200);
      expect(await summary(c, key.id)).toMatchObject({ usesLeft: 0, status: 'used' });
    });
  });

  describe('refusals', () => {
    it('answers unknown, expired, revoked, used-up and other-vendor keys identically, auditing the known ones', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const revoked = await issue(c, { purpose: 'Revoked key' });
      expect((await c.request('DELETE', `${WEBKEYS}/${revoked.id}`)).status).toBe(200);
      const usedUp = await issue(c, { purpose: 'Used key' });
      await redeemed(acme, { key: usedUp.key });
      const bound = await issue(c, { purpose: 'Bound key', audience: globex.id });
      const expiring = await issue(c, { purpose: 'Short key', lifetimeSeconds: 30 });
      clock.advance(31_000);

      const jwsShaped = [randomBytes(36), randomBytes(120), randomBytes(64)]
        .map((bytes) => bytes.toString('base64url'))
        .join('.');
      const attempts: [string, { key: string } | { code: string }][] = [
        ['a random JWS-shaped string', { key: jwsShaped }],
        ['a random short code', { code: formatShortCode(randomBytes(8)) }],
        ['an expired key', { key: expiring.key }],
        ["an expired key's short code", { code: expiring.shortCode }],
        ['a revoked key', { key: revoked.key }],
        ["a revoked key's short code", { code: revoked.shortCode }],
        ['a used-up key', { key: usedUp.key }],
        ["a used-up key's short code", { code: usedUp.shortCode }],
        ['a key bound to another vendor', { key: bound.key }],
        ["a bound key's short code", { code: bound.shortCode }],
      ];
      const answers: Record<string, unknown>[] = [];
      for (const [name, presented] of attempts) {
        const answer = await redeem(acme, presented);
        expect(answer.status, name).toBe(403);
        expectProblem(answer, 403, 'webkey_refused');
        expect(answer.headers.get('cache-control'), name).toBe('no-store');
        answers.push(withoutRequestId(answer.body));
      }
      for (const [index, body] of answers.entries()) {
        expect(body, attempts[index]?.[0]).toEqual(answers[0]);
      }

      const refusals = (await audit(c)).filter((entry) => entry.event === 'key_refused');
      const reasons = (key: IssuedWebkey) =>
        refusals.filter((entry) => entry.keyId === key.id).map((entry) => entry.reason);
      expect(reasons(expiring)).toEqual(['expired', 'expired']);
      expect(reasons(revoked)).toEqual(['revoked', 'revoked']);
      expect(reasons(usedUp)).toEqual(['used_up', 'used_up']);
      expect(reasons(bound)).toEqual(['not_for_this_vendor', 'not_for_this_vendor']);
      expect(refusals).toHaveLength(8);
      for (const entry of refusals) {
        expect(entry).toMatchObject({
          outcome: 'refused',
          // Another vendor's key: named by its id's host, not by what its name says.
          vendor: {
            id: acme.id,
            name: entry.keyId === bound.id ? new URL(acme.id).host : 'Acme Optics',
          },
          paths: ['address.home'],
        });
      }
      expect(refusals.find((e) => e.keyId === bound.id)?.purpose).toBe('Bound key');

      // The refusal of the bound key consumed nothing: its own vendor still redeems it.
      const own = await redeemed(globex, { key: bound.key });
      expect(own.usesLeft).toBe(0);
    });
  });

  describe('attacks on the web key', () => {
    const attacks: [string, (key: string, c: VaultCustomer) => Promise<string[]>][] = [
      [
        'alg none (the same claims, unsigned)',
        async (key) => {
          const [header, payload] = segments(key);
          const decoded = decodeProtectedHeader(key);
          return [
            `${b64json({ ...decoded, alg: 'none' })}.${payload}.`,
            `${b64json({ alg: 'none', typ: 'webkey+jwt' })}.${payload}.`,
            `${header}.${payload}.`,
          ];
        },
      ],
      [
        "HS256 keyed with the vault's public key",
        async (key) => {
          const jwks = jwksSchema.parse(
            await (await fetch(`${vault.url}/.well-known/jwks.json`)).json(),
          );
          const jwk = jwks.keys.find((k) => k.kid === decodeProtectedHeader(key).kid)!;
          expect(jwk).toBeDefined();
          const claims = decodeJwt(key);
          const secrets = [
            Buffer.from(JSON.stringify(jwk), 'utf8'),
            Buffer.from(JSON.stringify(jwks), 'utf8'),
            Buffer.concat([
              Buffer.from([4]),
              Buffer.from(jwk.x, 'base64url'),
              Buffer.from(jwk.y ?? '', 'base64url'),
            ]),
          ];
          return Promise.all(
            secrets.map((secret) =>
              new SignJWT(claims)
                .setProtectedHeader({ alg: 'HS256', typ: 'webkey+jwt', kid: jwk.kid })
                .sign(new Uint8Array(secret)),
            ),
          );
        },
      ],
      [
        'a vault-signed token of another type (the audit checkpoint)',
        async (_key, c) => {
          const exported = await c.request<AuditExport>('GET', '/api/v1/audit/export');
          expect(exported.status).toBe(200);
          const checkpoint = exported.body.checkpoint;
          expect(decodeProtectedHeader(checkpoint).typ).toBe('webkey-checkpoint+jwt');
          return [checkpoint];
        },
      ],
      ["a vendor's client assertion", async () => [await assertion(acme)]],
      [
        'a tampered payload (scope widened, signature kept)',
        async (key) => {
          const [header, , signature] = segments(key);
          const claims = decodeJwt(key);
          return [
            `${header}.${b64json({ ...claims, scope: ['address.home', 'insurance.primary'] })}.${signature}`,
            `${header}.${b64json({ ...claims, uses: 100 })}.${signature}`,
            `${header}.${b64json({ ...claims, exp: (claims.exp ?? 0) + 86_400 })}.${signature}`,
          ];
        },
      ],
      [
        'a junk kid header (signature kept)',
        async (key) => {
          const [, payload, signature] = segments(key);
          return [
            `${b64json({ ...decodeProtectedHeader(key), kid: 'nope' })}.${payload}.${signature}`,
          ];
        },
      ],
      [
        'a flipped signature byte',
        async (key) => {
          const [header, payload, signature] = segments(key);
          const bytes = Buffer.from(signature, 'base64url');
          bytes[10]! ^= 0x01;
          return [`${header}.${payload}.${bytes.toString('base64url')}`];
        },
      ],
    ];

    it.each(attacks)('refuses %s and consumes nothing', async (_name, forge) => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      await write(c, 'insurance.primary', INSURANCE);
      const key = await issue(c);
      const forgeries = await forge(key.key, c);
      expect(forgeries.length).toBeGreaterThan(0);
      for (const forged of forgeries) {
        expect(forged).not.toBe(key.key);
        expectProblem(await redeem(acme, { key: forged }), 403, 'webkey_refused');
      }
      await expectUnused(c, key);
      const body = await redeemed(acme, { key: key.key });
      expect(Object.keys(body.fields)).toEqual(['address.home']);
      expect(body.usesLeft).toBe(0);
    });

    it('takes a re-encoding of a genuine key (its other valid signature, s replaced by n - s) as the same key: one budget of uses', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 2 });
      const [header, payload, signature] = segments(key.key);
      const raw = Buffer.from(signature, 'base64url');
      const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
      const flipped = (P256_ORDER - s).toString(16).padStart(64, '0');
      const twin = `${header}.${payload}.${Buffer.concat([raw.subarray(0, 32), Buffer.from(flipped, 'hex')]).toString('base64url')}`;
      // The twin is a valid signature of the same claims, in other bytes.
      const jwks = jwksSchema.parse(
        await (await fetch(`${vault.url}/.well-known/jwks.json`)).json(),
      );
      await expect(
        jwtVerify(twin, createLocalJWKSet(jwks), { currentDate: clock() }),
      ).resolves.toBeDefined();

      expect((await redeemed(acme, { key: twin })).usesLeft).toBe(1);
      expect((await redeemed(acme, { key: key.key })).usesLeft).toBe(0);
      expectProblem(await redeem(acme, { key: twin }), 403, 'webkey_refused');
      expectProblem(await redeem(acme, { key: key.key }), 403, 'webkey_refused');
    });

    it('refuses a key whose bytes differ from the issued ones and whose signature does not verify', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c);
      const [header, payload, signature] = segments(key.key);
      const raw = Buffer.from(signature, 'base64url');
      raw[40] = (raw[40] ?? 0) ^ 1;
      expectProblem(
        await redeem(acme, { key: `${header}.${payload}.${raw.toString('base64url')}` }),
        403,
        'webkey_refused',
      );
      await expectUnused(c, key);
    });

    it('refuses its keys once the key that signed them is past its rotation grace', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 2 });
      await redeemed(acme, { key: key.key });
      await rotateSigningKey(vault.ctx.db, vault.ctx.keyring, systemRandom, clock().getTime(), 0);
      await vault.ctx.signer.reload();

      expectProblem(await redeem(acme, { key: key.key }), 403, 'webkey_refused');
      expect((await summary(c, key.id)).usesLeft).toBe(1);
      // Keys signed since redeem as ever.
      const next = await issue(c);
      expect((await redeemed(acme, { key: next.key })).fields['address.home']).toBeDefined();
    });

    it('refuses its keys the moment the grace of the key that signed them ends', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 3 });
      await rotateSigningKey(
        vault.ctx.db,
        vault.ctx.keyring,
        systemRandom,
        clock().getTime(),
        10_000,
      );
      await vault.ctx.signer.reload();
      clock.advance(9_000);
      await redeemed(acme, { key: key.key });
      // Past the grace, well within the time the vault keeps its keys read (30 s).
      clock.advance(2_000);
      expectProblem(await redeem(acme, { key: key.key }), 403, 'webkey_refused');
      expect((await summary(c, key.id)).usesLeft).toBe(2);
    });

    it('verifies by signature the keys issued before the vault kept their hash', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 2 });
      await vault.ctx.db
        .updateTable('webkeys')
        .set({ token_hash: null })
        .where('id', '=', key.id)
        .execute();
      const [header, , signature] = segments(key.key);
      const widened = `${header}.${b64json({ ...decodeJwt(key.key), uses: 100 })}.${signature}`;
      const bytes = Buffer.from(signature, 'base64url');
      bytes[3]! ^= 0x01;
      const flipped = `${segments(key.key).slice(0, 2).join('.')}.${bytes.toString('base64url')}`;
      for (const forged of [widened, flipped])
        expectProblem(await redeem(acme, { key: forged }), 403, 'webkey_refused');
      await expectUnused(c, key);

      expect((await redeemed(acme, { key: key.key })).usesLeft).toBe(1);
    });

    it('refuses a genuine key issued by another vault', async () => {
      const other = await startTestVault(engine, { clock, config: { devMode: true } });
      try {
        const stranger = new VaultCustomer(other.url);
        await stranger.signUp();
        expect((await stranger.request('PUT', '/api/v1/records/address.home', HOME)).status).toBe(
          201,
        );
        const response = await stranger.request('POST', WEBKEYS, {
          scope: ['address.home'],
          purpose: 'Elsewhere',
        });
        expect(response.status).toBe(201);
        const foreign = issuedWebkeySchema.parse(response.body);
        expect(decodeJwt(foreign.key).iss).toBe(other.url);

        expectProblem(await redeem(acme, { key: foreign.key }), 403, 'webkey_refused');
        expectProblem(await redeem(acme, { code: foreign.shortCode }), 403, 'webkey_refused');

        // It is a valid key where it belongs, and was not consumed.
        const now = Math.floor(clock().getTime() / 1000);
        const there = await acme.redeem(
          other.url,
          { key: foreign.key },
          {
            assertion: await acme.assertion(other.url, { claims: { iat: now, exp: now + 60 } }),
          },
        );
        expect(there.status, JSON.stringify(there.body)).toBe(200);
      } finally {
        await other.dispose();
      }
    });
  });

  describe('vendor authentication', () => {
    it('confirms the document of a vendor whose redemption succeeded, and only then', async () => {
      const confirm = vi.spyOn(vault.ctx.vendors, 'confirm');
      try {
        const c = await customer();
        const key = await issue(c, { uses: 2 });
        const forged = await assertion(acme, { key: (await generateKeyPair('ES256')).privateKey });
        expectProblem(
          await redeem(acme, { key: key.key }, { assertion: forged }),
          401,
          'invalid_client',
        );
        // A verified assertion is no proof: anyone can publish keys of their own.
        const [header, , signature] = key.key.split('.');
        const unknown = `${header}.${b64json({ jti: 'wk_unknown' })}.${signature}`;
        expectProblem(await redeem(acme, { key: unknown }), 403, 'webkey_refused');
        expect(confirm).not.toHaveBeenCalled();
        await redeemed(acme, { key: key.key });
        expect(confirm).toHaveBeenCalledWith(
          acme.id,
          expect.objectContaining({ vendor_id: acme.id }),
        );
      } finally {
        confirm.mockRestore();
      }
    });

    const attacks: [string, () => Promise<{ vendor: TestVendor; assertion: string }>][] = [
      [
        'a replayed assertion',
        async () => {
          const c = await customer();
          const replayed = await assertion(acme);
          await redeemed(acme, { key: (await issue(c)).key }, { assertion: replayed });
          return { vendor: acme, assertion: replayed };
        },
      ],
      [
        'a replayed assertion whose first use was refused (403)',
        async () => {
          const c = await customer();
          const revoked = await issue(c);
          expect((await c.request('DELETE', `${WEBKEYS}/${revoked.id}`)).status).toBe(200);
          const replayed = await assertion(acme);
          const first = await redeem(acme, { key: revoked.key }, { assertion: replayed });
          expectProblem(first, 403, 'webkey_refused');
          return { vendor: acme, assertion: replayed };
        },
      ],
      [
        'a replayed assertion whose first use named no key (403)',
        async () => {
          const c = await customer();
          const genuine = await issue(c);
          const [header, , signature] = genuine.key.split('.');
          const unknown = `${header}.${b64json({ jti: 'wk_unknown' })}.${signature}`;
          const replayed = await assertion(acme);
          expectProblem(
            await redeem(acme, { key: unknown }, { assertion: replayed }),
            403,
            'webkey_refused',
          );
          return { vendor: acme, assertion: replayed };
        },
      ],
      [
        'a replayed assertion whose first use was an idempotent retry',
        async () => {
          const c = await customer();
          const key = await issue(c);
          const idempotencyKey = randomUUID();
          await redeemed(acme, { key: key.key }, { idempotencyKey });
          const replayed = await assertion(acme);
          await redeemed(acme, { key: key.key }, { idempotencyKey, assertion: replayed });
          return { vendor: acme, assertion: replayed };
        },
      ],
      [
        'a replayed assertion with a fractional exp, its record swept just before it stops verifying',
        async () => {
          const c = await customer();
          const now = Math.floor(clock().getTime() / 1000);
          // RFC 7519 NumericDates may be fractional; it verifies until ceil(exp) + 30 s.
          const replayed = await assertion(acme, { claims: { iat: now, exp: now + 60.9 } });
          await redeemed(acme, { key: (await issue(c)).key }, { assertion: replayed });
          clock.advance(90_950);
          await sweepExpired(vault.ctx.db, clock().getTime());
          return { vendor: acme, assertion: replayed };
        },
      ],
      [
        'another audience',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { claims: { aud: 'http://localhost:1' } }),
        }),
      ],
      [
        'the redemption endpoint as audience',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { claims: { aud: `${vault.url}/vendor/v1/redeem` } }),
        }),
      ],
      [
        'an audience array holding the issuer and another',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, {
            claims: { aud: [vault.url, 'https://other-vault.example'] },
          }),
        }),
      ],
      [
        "a key not in the vendor's JWKS (same kid)",
        async () => {
          const { privateKey } = await generateKeyPair('ES256');
          return { vendor: acme, assertion: await assertion(acme, { key: privateKey }) };
        },
      ],
      [
        "a key not in the vendor's JWKS (unknown kid)",
        async () => {
          const { privateKey } = await generateKeyPair('ES256');
          return {
            vendor: acme,
            assertion: await assertion(acme, { key: privateKey, header: { kid: 'rotated-key' } }),
          };
        },
      ],
      [
        'an expired assertion',
        async () => {
          const now = Math.floor(clock().getTime() / 1000);
          return {
            vendor: acme,
            assertion: await assertion(acme, { claims: { iat: now - 600, exp: now - 540 } }),
          };
        },
      ],
      [
        'an assertion living over 300 s',
        async () => {
          const now = Math.floor(clock().getTime() / 1000);
          return {
            vendor: acme,
            assertion: await assertion(acme, { claims: { iat: now, exp: now + 301 } }),
          };
        },
      ],
      [
        'iss different from sub',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { claims: { sub: globex.id } }),
        }),
      ],
      [
        'another vendor as iss and sub (signed by acme)',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { claims: { iss: globex.id, sub: globex.id } }),
        }),
      ],
      [
        'no jti',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { claims: { jti: undefined } }),
        }),
      ],
      [
        'typ JWT',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { header: { typ: 'JWT' } }),
        }),
      ],
      [
        'no typ',
        async () => ({
          vendor: acme,
          assertion: await assertion(acme, { header: { typ: undefined } }),
        }),
      ],
      [
        'alg none',
        async () => {
          const [, payload] = segments(await assertion(acme));
          return {
            vendor: acme,
            assertion: `${b64json({ alg: 'none', typ: CLIENT_ASSERTION_JWT_TYPE })}.${payload}.`,
          };
        },
      ],
      [
        'a vendor metadata URL that answers 404',
        async () => {
          const missing = acme.id.replace('/webkey-vendor.json', '/missing.json');
          return {
            vendor: acme,
            assertion: await assertion(acme, { claims: { iss: missing, sub: missing } }),
          };
        },
      ],
      [
        'metadata whose vendor_id differs from its URL',
        async () => {
          const mallory = await TestVendor.start('Mallory Goods');
          mallory.metadata = { ...mallory.metadata, vendor_id: acme.id };
          const forged = await assertion(mallory);
          // The vendor keeps serving until the test ends; stopping it would make this a fetch error.
          stopAfter.push(mallory);
          return { vendor: mallory, assertion: forged };
        },
      ],
    ];
    const stopAfter: TestVendor[] = [];

    afterAll(async () => {
      await Promise.all(stopAfter.map((vendor) => vendor.stop()));
    });

    it('refuses a replayed assertion as such (401), whatever the replay presents', async () => {
      const c = await customer();
      const revoked = await issue(c);
      expect((await c.request('DELETE', `${WEBKEYS}/${revoked.id}`)).status).toBe(200);
      const [header, , signature] = revoked.key.split('.');
      const unknown = `${header}.${b64json({ jti: 'wk_unknown' })}.${signature}`;
      const spent = await assertion(acme);
      expectProblem(
        await redeem(acme, { key: unknown }, { assertion: spent }),
        403,
        'webkey_refused',
      );
      for (const presented of [
        { key: unknown },
        { key: revoked.key },
        { code: revoked.shortCode },
      ]) {
        expectProblem(await redeem(acme, presented, { assertion: spent }), 401, 'invalid_client');
      }
    });

    it.each(attacks)('refuses %s with 401 invalid_client, consuming nothing', async (_, forge) => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c);
      const { vendor, assertion: forged } = await forge();
      const answer = await vendor.redeem(vault.url, { key: key.key }, { assertion: forged });
      const problem = expectProblem(answer, 401, 'invalid_client');
      expect(problem.detail).toBe('The client assertion was refused.');
      expect(answer.headers.get('cache-control')).toBe('no-store');
      await expectUnused(c, key);
      // The key is still good for an authenticated vendor.
      expect((await redeemed(acme, { key: key.key })).usesLeft).toBe(0);
    });

    it('refuses an assertion that could never pass before fetching its vendor document', async () => {
      const stranger = await TestVendor.start('Never Fetched');
      stopAfter.push(stranger);
      const c = await customer();
      const key = await issue(c);
      const now = Math.floor(clock().getTime() / 1000);
      for (const claims of [
        { aud: 'https://other-vault.example' },
        { iat: now - 600, exp: now - 540 },
        { iat: now, exp: now + 3600 },
        { iat: now + 120, exp: now + 180 },
        { jti: 'short' },
        { exp: undefined },
        { iat: undefined },
      ]) {
        const forged = await assertion(stranger, { claims });
        // A claim set to undefined is left out of the assertion.
        for (const [name, value] of Object.entries(claims))
          if (value === undefined) expect(decodeJwt(forged)).not.toHaveProperty(name);
        expectProblem(
          await stranger.redeem(vault.url, { key: key.key }, { assertion: forged }),
          401,
          'invalid_client',
        );
      }
      expect(stranger.metadataRequests).toHaveLength(0);
      // A good assertion from the same vendor is what makes the vault fetch.
      await redeemed(stranger, { key: key.key });
      expect(stranger.metadataRequests).toHaveLength(1);
    });

    it('answers every refused assertion with the same body', async () => {
      const c = await customer();
      const key = await issue(c);
      const now = Math.floor(clock().getTime() / 1000);
      const bodies = await Promise.all(
        [
          await assertion(acme, { claims: { aud: 'http://localhost:1' } }),
          await assertion(acme, { claims: { iat: now - 600, exp: now - 540 } }),
          await assertion(acme, { header: { typ: 'JWT' } }),
          'not-a-jwt',
        ].map(async (forged) => {
          const answer = await acme.redeem(vault.url, { key: key.key }, { assertion: forged });
          expectProblem(answer, 401, 'invalid_client');
          return withoutRequestId(answer.body);
        }),
      );
      for (const body of bodies) expect(body).toEqual(bodies[0]);
      await expectUnused(c, key);
    });
  });

  describe('concurrency', () => {
    async function race(uses: number): Promise<{
      key: IssuedWebkey;
      c: VaultCustomer;
      answers: RawAnswer[];
    }> {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses });
      const assertions = await Promise.all(Array.from({ length: 50 }, () => assertion(acme)));
      expect(new Set(assertions.map((a) => decodeJwt(a).jti)).size).toBe(50);
      const answers = await Promise.all(
        assertions.map((a) => acme.redeem(vault.url, { key: key.key }, { assertion: a })),
      );
      return { key, c, answers };
    }

    it('lets exactly one of 50 parallel redemptions of a single-use key succeed', async () => {
      const { key, c, answers } = await race(1);
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 403)).toHaveLength(49);
      const refusals = answers.filter((a) => a.status === 403);
      const first = withoutRequestId(refusals[0]?.body);
      for (const refusal of refusals) {
        expectProblem(refusal, 403, 'webkey_refused');
        expect(withoutRequestId(refusal.body)).toEqual(first);
      }
      const winner = redemptionResponseSchema.parse(answers.find((a) => a.status === 200)?.body);
      expect(winner.usesLeft).toBe(0);

      const entries = await auditFor(c, key.id);
      expect(entries.filter((e) => e.event === 'key_redeemed').map((e) => e.id)).toEqual([
        winner.auditEntryId,
      ]);
      const refused = entries.filter((e) => e.event === 'key_refused');
      expect(refused).toHaveLength(49);
      expect(new Set(refused.map((e) => e.reason))).toEqual(new Set(['used_up']));
      expect(await summary(c, key.id)).toMatchObject({ usesLeft: 0, status: 'used' });
    });

    it('lets exactly three of 50 parallel redemptions of a three-use key succeed', async () => {
      const { key, c, answers } = await race(3);
      const winners = answers
        .filter((a) => a.status === 200)
        .map((a) => redemptionResponseSchema.parse(a.body));
      expect(winners).toHaveLength(3);
      expect(answers.filter((a) => a.status === 403)).toHaveLength(47);
      expect(winners.map((w) => w.usesLeft).sort()).toEqual([0, 1, 2]);
      const redemptions = (await auditFor(c, key.id)).filter((e) => e.event === 'key_redeemed');
      expect(redemptions.map((e) => e.id).sort()).toEqual(
        winners.map((w) => w.auditEntryId).sort(),
      );
      expect(await summary(c, key.id)).toMatchObject({ usesLeft: 0, status: 'used' });
      // The audit chain stayed linear under the race.
      const log = await audit(c);
      for (const [index, entry] of log.entries()) {
        expect(entry.seq).toBe(log.length - index);
        expect(entry.prevHash).toBe(log[index + 1]?.hash ?? '0'.repeat(64));
      }
    });
  });

  describe('idempotency', () => {
    it('answers a retry with the same Idempotency-Key identically, taking one use', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 3 });
      const idempotencyKey = randomUUID();
      const first = await redeem(acme, { key: key.key }, { idempotencyKey });
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      clock.advance(1000);
      const second = await redeem(acme, { key: key.key }, { idempotencyKey });
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
      expect(redemptionResponseSchema.parse(second.body).usesLeft).toBe(2);
      expect(await summary(c, key.id)).toMatchObject({ usesLeft: 2, status: 'active' });
      expect((await auditFor(c, key.id)).filter((e) => e.event === 'key_redeemed')).toHaveLength(1);

      // Without the header, or with another value, it is a new redemption.
      expect((await redeemed(acme, { key: key.key })).usesLeft).toBe(1);
      expect(
        (await redeemed(acme, { key: key.key }, { idempotencyKey: randomUUID() })).usesLeft,
      ).toBe(0);
    });

    it('refuses the same Idempotency-Key with another key (422), consuming nothing', async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const first = await issue(c);
      const other = await issue(c);
      const idempotencyKey = randomUUID();
      await redeemed(acme, { key: first.key }, { idempotencyKey });
      const reused = await redeem(acme, { key: other.key }, { idempotencyKey });
      expectProblem(reused, 422, 'idempotency_key_reused');
      const byCode = await redeem(acme, { code: other.shortCode }, { idempotencyKey });
      expectProblem(byCode, 422, 'idempotency_key_reused');
      await expectUnused(c, other);
    });

    it("keeps another vendor's identical Idempotency-Key independent", async () => {
      const c = await customer();
      await write(c, 'address.home', HOME);
      const key = await issue(c, { uses: 2 });
      const idempotencyKey = 'order-1042-attempt-1';
      const byAcme = await redeemed(acme, { key: key.key }, { idempotencyKey });
      const byGlobex = await redeemed(globex, { key: key.key }, { idempotencyKey });
      expect(byGlobex.redemptionId).not.toBe(byAcme.redemptionId);
      expect(byGlobex.subject).not.toBe(byAcme.subject);
      expect([byAcme.usesLeft, byGlobex.usesLeft]).toEqual([1, 0]);
      expect(await summary(c, key.id)).toMatchObject({
        usesLeft: 0,
        lastVendor: { id: globex.id, name: 'Globex Pharmacy' },
      });
    });

    it('refuses a malformed Idempotency-Key header with 400', async () => {
      const c = await customer();
      const key = await issue(c);
      for (const idempotencyKey of ['has space', 'x'.repeat(256), 'caf\u00e9']) {
        const answer = await redeem(acme, { key: key.key }, { idempotencyKey });
        const problem = expectProblem(answer, 400, 'invalid_request');
        expect(problem.errors?.map((e) => e.pointer)).toEqual(['Idempotency-Key']);
      }
      await expectUnused(c, key);
    });
  });

  describe('request bodies', () => {
    const bad: [
      string,
      (key: IssuedWebkey) => [{ key: string } | { code: string }, RedeemOptions],
      string,
    ][] = [
      ['both key and code', (k) => [{ key: k.key }, { extraBody: { code: k.shortCode } }], ''],
      ['neither key nor code', (k) => [{ key: k.key }, { extraBody: { key: undefined } }], ''],
      [
        'an unknown field',
        (k) => [{ key: k.key }, { extraBody: { scope: ['profile'] } }],
        '/scope',
      ],
      [
        'another client_assertion_type',
        (k) => [
          { key: k.key },
          {
            extraBody: {
              client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
            },
          },
        ],
        '/client_assertion_type',
      ],
      [
        'no client assertion',
        (k) => [{ key: k.key }, { extraBody: { client_assertion: undefined } }],
        '/client_assertion',
      ],
    ];

    it.each(bad)('refuses a body with %s (400), consuming nothing', async (_, build, pointer) => {
      const c = await customer();
      const key = await issue(c);
      const [presented, options] = build(key);
      const answer = await redeem(acme, presented, options);
      const problem = expectProblem(answer, 400, 'invalid_request');
      expect(problem.errors?.length).toBeGreaterThan(0);
      if (pointer !== '') expect(problem.errors?.map((e) => e.pointer)).toContain(pointer);
      await expectUnused(c, key);
    });

    it('refuses a body that is not JSON with 415', async () => {
      const c = await customer();
      const key = await issue(c);
      const answer = await fetch(`${vault.url}/vendor/v1/redeem`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          key: key.key,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: await assertion(acme),
        }),
      });
      expect(answer.status).toBe(415);
      expect(problemSchema.parse(await answer.json()).code).toBe('unsupported_media_type');
      await expectUnused(c, key);
    });
  });
});
