import {
  CLIENT_ASSERTION_JWT_TYPE,
  CLIENT_ASSERTION_TYPE,
  MAX_ASSERTION_LIFETIME_SECONDS,
  VAULT_METADATA_PATH,
} from '@webkey/protocol';
import type { JWK } from 'jose';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { UntrustedIssuerError } from './errors.ts';
import { HOME, harness } from './test-support.ts';
import { VendorClient } from './vendor-client.ts';

describe('VendorClient.redeem with a web key', () => {
  it('redeems, returning typed fields, claims, missing items and the pairwise subject', async () => {
    const { vault, client, vendor } = await harness({
      records: { 'address.home': HOME, profile: { legalName: 'Ada Lovelace' } },
      claims: { 'profile.age_over_21': true },
    });
    const { key, jti } = await vault.issueWebkey({
      aud: vendor.vendorId,
      scope: ['address.home', 'profile.age_over_21', 'insurance.primary'],
      purpose: 'Delivery',
    });

    const redemption = await client.redeem(`  ${key}\n`);

    expect(redemption.keyId).toBe(jti);
    expect(redemption.issuer).toBe(vault.issuer);
    expect(redemption.purpose).toBe('Delivery');
    expect(redemption.subject).toMatch(/^[A-Za-z0-9_-]{43}$/); // protocol 10
    expect(redemption.requestId).toMatch(/^req_/);
    const home = redemption.field('address.home');
    expectTypeOf(home).toEqualTypeOf<
      | {
          recipient?: string | undefined;
          lines: string[];
          locality: string;
          region?: string | undefined;
          postalCode?: string | undefined;
          country: string;
        }
      | undefined
    >();
    expect(home).toEqual(HOME);
    expect(redemption.field('profile')).toBeUndefined(); // not in scope
    expect(redemption.field('insurance.primary')).toBeUndefined();
    expect(redemption.claim('profile.age_over_21')).toBe(true);
    expect(redemption.claim('profile.age_over_65')).toBeUndefined();
    expect(redemption.missing).toEqual(['insurance.primary']);
  });

  it('authenticates with a fresh private_key_jwt assertion the vault can verify', async () => {
    const { vault, client, vendor } = await harness();
    const { key } = await vault.issueWebkey();
    await client.redeem(key);

    const [request] = vault.redemptions;
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body.key).toBe(key);
    expect(request?.body.client_assertion_type).toBe(CLIENT_ASSERTION_TYPE);
    const { payload, protectedHeader } = await jwtVerify(
      String(request?.body.client_assertion),
      createLocalJWKSet({ keys: [vendor.publicJwk] }),
      { typ: CLIENT_ASSERTION_JWT_TYPE, algorithms: ['ES256'] },
    );
    expect(protectedHeader.kid).toBe(vendor.publicJwk.kid);
    expect(payload.iss).toBe(vendor.vendorId);
    expect(payload.sub).toBe(vendor.vendorId);
    expect(payload.aud).toBe(vault.issuer); // the exact issuer string, not an endpoint
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(MAX_ASSERTION_LIFETIME_SECONDS);
  });

  it('signs with an EdDSA vendor key too', async () => {
    const { vault, makeClient } = await harness({ vendorKeys: undefined });
    const { generateVendorKeyPair } = await import('./vendor-keys.ts');
    const { privateJwk } = await generateVendorKeyPair('EdDSA');
    const { key } = await vault.issueWebkey();
    await makeClient({ privateKey: privateJwk }).redeem(key);
    const assertion = String(vault.redemptions[0]?.body.client_assertion);
    const header = JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'EdDSA', typ: CLIENT_ASSERTION_JWT_TYPE });
  });

  it('uses a distinct Idempotency-Key per redeem() call', async () => {
    const { vault, client } = await harness();
    await client.redeem((await vault.issueWebkey()).key);
    await client.redeem((await vault.issueWebkey()).key);
    const [first, second] = vault.redemptions.map((r) => r.idempotencyKey);
    expect(first).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(second).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(first).not.toBe(second);
  });

  it('caches discovery and the key set per issuer', async () => {
    const { vault, client } = await harness();
    await client.redeem((await vault.issueWebkey()).key);
    await client.redeem((await vault.issueWebkey()).key);
    expect(vault.requests.filter((r) => r.startsWith(`GET ${VAULT_METADATA_PATH}`))).toHaveLength(
      1,
    );
    expect(vault.requests.filter((r) => r.startsWith('GET /jwks'))).toHaveLength(1);
  });
});

describe('new VendorClient', () => {
  it('refuses a public key, or anything but a private key, at once', async () => {
    const { vendor } = await harness();
    const { d: _secret, ...publicHalf } = vendor.privateJwk as Record<string, unknown>;
    const make = (privateKey: unknown) => () =>
      new VendorClient({
        clientId: vendor.vendorId,
        privateKey: privateKey as JWK,
        trust: { issuers: ['https://vault.example'] },
      });
    expect(make(publicHalf)).toThrow(/privateKey must be a private JWK \(it has no "d" member\)/);
    expect(make({ kty: 'RSA', d: 'x' })).toThrow(/privateKey must be an EC P-256/);
    expect(make(null)).toThrow(/privateKey must be a private JWK, a CryptoKey or a KeyObject/);
    expect(make('key')).toThrow(TypeError);
  });

  it('fails redeem(), grants.read() and records.deposit() before any request when the private key does not import', async () => {
    const { vault, makeClient, fetches } = await harness();
    const garbled = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'BBBB', d: 'CCCC' };
    const client = makeClient({ privateKey: garbled });
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toThrow();
    const issuer = vault.issuer;
    await expect(client.grants.read('grt_1', { issuer })).rejects.toThrow();
    await expect(
      client.records.deposit(
        'grt_1',
        { kind: 'receipt', ref: 'R-1', content: { title: 'Exam', issuedOn: '2026-11-23' } },
        { issuer },
      ),
    ).rejects.toThrow();
    expect(fetches).toEqual([]);
  });

  it('refuses a client id a vault would refuse: not https (but on this machine), not normal, with fragment or credentials', async () => {
    const { vendor } = await harness();
    const make = (clientId: string) => () =>
      new VendorClient({
        clientId,
        privateKey: vendor.privateJwk,
        trust: { issuers: ['https://vault.example'] },
      });
    for (const bad of [
      'http://shop.example/v.json',
      'ftp://shop.example/v.json',
      'https://shop.example',
      'https://Shop.example/v.json',
      'https://shop.example/v.json#x',
      'https://a:b@shop.example/v.json',
      'shop.example',
    ]) {
      expect(make(bad), bad).toThrow(/clientId must be the https URL/);
    }
    expect(make('http://127.0.0.1:8080/v.json')).not.toThrow();
    expect(make('https://shop.example/')).not.toThrow();
  });
});

describe('trust', () => {
  it('sends nothing at all for a key from an untrusted issuer', async () => {
    const { vault, makeClient, fetches } = await harness();
    const client = makeClient({ trust: { issuers: ['https://vault.example'] } });
    const { key } = await vault.issueWebkey();

    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UntrustedIssuerError);
    expect(error).toMatchObject({ code: 'untrusted_issuer', issuer: vault.issuer });
    expect(fetches).toEqual([]);
    expect(vault.requests).toEqual([]);
  });

  it("quotes an untrusted issuer in the message: a scanned code's text may hold terminal escapes", async () => {
    const { vault, client } = await harness();
    const issuer = 'https://evil.example/\u001b[2J\u001b[31mPAID';
    const { key } = await vault.issueWebkey({ claims: { iss: issuer } });
    const error = await client.redeem(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UntrustedIssuerError);
    expect((error as Error).message).not.toContain('\u001b');
    expect((error as Error).message).toContain(JSON.stringify(issuer));
  });

  it('escapes C1 controls and bidi overrides of an issuer too, requested or not', async () => {
    const { vault, client } = await harness();
    const issuer = 'https://evil.example/\u009b2J\u202eKO\u2066';
    const { key } = await vault.issueWebkey({ claims: { iss: issuer } });
    for (const options of [{}, { issuer: vault.issuer }]) {
      const error = await client.redeem(key, options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UntrustedIssuerError);
      expect((error as Error).message).toMatch(/^[\x20-\x7e]*$/);
      expect((error as Error).message).toContain(
        '"https://evil.example/\\u009b2J\\u202eKO\\u2066"',
      );
    }
  });

  it('never trusts a vault over plain http off this machine, whatever the policy says', async () => {
    const { vault, makeClient, fetches } = await harness();
    const asked: string[] = [];
    const client = makeClient({
      trust: (issuer) => {
        asked.push(issuer);
        return true;
      },
    });
    const { key } = await vault.issueWebkey({ claims: { iss: 'http://vault.example' } });
    await expect(client.redeem(key)).rejects.toBeInstanceOf(UntrustedIssuerError);
    expect(asked).toEqual([]);
    expect(fetches).toEqual([]);
    expect(() => makeClient({ trust: { issuers: ['http://vault.example'] } })).toThrow(
      /not an https URL \(plain http only for localhost\)/,
    );
    for (const loopback of ['http://localhost:7420', 'http://127.0.0.1:7420', 'http://[::1]:7420'])
      expect(() => makeClient({ trust: { issuers: [loopback] } })).not.toThrow();
  });

  it('asks a trust function, and only a literal true trusts', async () => {
    const { vault, makeClient, fetches } = await harness();
    const asked: string[] = [];
    const { key } = await vault.issueWebkey();
    const refusing = makeClient({
      trust: async (issuer) => {
        asked.push(issuer);
        return 'yes' as unknown as boolean;
      },
    });
    await expect(refusing.redeem(key)).rejects.toBeInstanceOf(UntrustedIssuerError);
    expect(asked).toEqual([vault.issuer]);
    expect(fetches).toEqual([]);

    const accepting = makeClient({ trust: (issuer) => issuer === vault.issuer });
    await expect(accepting.redeem(key)).resolves.toMatchObject({ issuer: vault.issuer });
  });

  it('refuses a key whose issuer differs from the one requested', async () => {
    const { vault, client, fetches } = await harness();
    const { key } = await vault.issueWebkey();
    await expect(client.redeem(key, { issuer: 'https://vault.example' })).rejects.toBeInstanceOf(
      UntrustedIssuerError,
    );
    expect(fetches).toEqual([]);
  });
});
