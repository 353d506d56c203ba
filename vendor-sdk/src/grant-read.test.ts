import type { GrantReadResponse } from '@webkey/protocol';
import { VAULT_METADATA_PATH } from '@webkey/protocol';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, VaultResponseError } from './errors.ts';
import { discoveryDocument, HOME } from './test-support.ts';
import { VendorClient } from './vendor-client.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';

const ISSUER = 'https://vault.example';
const PASSPORT = { type: 'passport', number: 'X123', issuer: 'HMPO', expiresOn: '2030-01-01' };

/** A grant read answer for a grant opened on `address.home`, with `overrides`. */
function answer(overrides: Partial<GrantReadResponse> = {}): GrantReadResponse {
  return {
    grantId: 'grt_1',
    issuer: ISSUER,
    subject: 's'.repeat(43),
    readAt: '2026-11-23T18:00:00.000Z',
    purpose: 'Delivery',
    scope: ['address.home'],
    expiresAt: '2027-11-23T18:00:00.000Z',
    auditEntryId: 'aud_1',
    fields: { 'address.home': { category: 'address', versionId: 'ver_1', value: HOME } },
    claims: {},
    missing: [],
    ...overrides,
  };
}

/** A client of a vault (a fetch, no server) whose grant read endpoint answers `body`. */
async function clientOf(body: GrantReadResponse): Promise<VendorClient> {
  const fetch = async (url: string) => {
    if (url !== `${ISSUER}${VAULT_METADATA_PATH}`) {
      return Response.json(body, { headers: { 'x-request-id': 'req_1' } });
    }
    return Response.json(
      discoveryDocument(ISSUER, { grant_read_endpoint: `${ISSUER}/vendor/v1/grants/read` }),
    );
  };
  const { privateJwk } = await generateVendorKeyPair();
  return new VendorClient({
    clientId: 'https://shop.example/webkey-vendor.json',
    privateKey: privateJwk,
    trust: { issuers: [ISSUER] },
    fetch,
  });
}

describe('client.grants.read', () => {
  it('returns the current data in the grant, typed', async () => {
    const client = await clientOf(answer());
    const read = await client.grants.read('grt_1');
    expect(read.field('address.home')).toEqual(HOME);
    expect(read.requestId).toBe('req_1');
  });

  it('refuses a record sent under the name of a claim of the scope', async () => {
    const client = await clientOf(
      answer({
        scope: ['profile.age_over_21'],
        fields: {
          'profile.age_over_21': {
            category: 'profile',
            versionId: 'ver_1',
            value: { legalName: 'Ada Lovelace', birthDate: '1815-12-10' },
          },
        },
      }),
    );
    const error = await client.grants.read('grt_1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({
      requestId: 'req_1',
      detail: 'fields "profile.age_over_21": not a record path of the scope',
    });
  });

  it('refuses a record of another category than its path', async () => {
    const client = await clientOf(
      answer({
        fields: {
          'address.home': { category: 'identity_document', versionId: 'ver_1', value: PASSPORT },
        },
      }),
    );
    await expect(client.grants.read('grt_1')).rejects.toBeInstanceOf(VaultResponseError);
  });

  it("checks the answer against the grant's signed scope when given: a widened scope is refused", async () => {
    const widened = answer({
      scope: ['address.home', 'identity_document.passport'],
      fields: {
        'address.home': { category: 'address', versionId: 'ver_1', value: HOME },
        'identity_document.passport': {
          category: 'identity_document',
          versionId: 'ver_2',
          value: PASSPORT,
        },
      },
    });
    const client = await clientOf(widened);
    const error = await client.grants
      .read('grt_1', { scope: ['address.home'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({ detail: 'scope: not the scope the grant was opened with' });
    // Without the signed scope, only the answer's own consistency can be checked.
    const read = await client.grants.read('grt_1');
    expect(read.field('identity_document.passport')).toEqual(PASSPORT);
  });

  it('accepts an answer of the signed scope, kept in any order', async () => {
    const client = await clientOf(answer());
    const read = await client.grants.read('grt_1', { scope: ['address.home'] });
    expect(read.scope).toEqual(['address.home']);
    const two = await clientOf(
      answer({
        scope: ['address.home', 'profile.age_over_21'],
        claims: { 'profile.age_over_21': true },
      }),
    );
    const reordered = await two.grants.read('grt_1', {
      scope: ['profile.age_over_21', 'address.home'],
    });
    expect(reordered.claims['profile.age_over_21']).toBe(true);
    await expect(
      two.grants.read('grt_1', { scope: ['address.home', 'address.home'] }),
    ).rejects.toBeInstanceOf(VaultResponseError);
  });

  it('refuses a grant id no vault issues as InvalidRequestError, not a raw ZodError', async () => {
    const client = await clientOf(answer());
    for (const grantId of ['g'.repeat(65), '', 42 as unknown as string]) {
      const error = await client.grants.read(grantId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ code: 'invalid_request', issues: [{ pointer: '/grant' }] });
      const deposit = await client.records
        .deposit(grantId, {
          kind: 'receipt',
          ref: 'INV-1',
          content: { title: 'Exam', issuedOn: '2026-11-23' },
        })
        .catch((e: unknown) => e);
      expect(deposit).toBeInstanceOf(InvalidRequestError);
    }
  });
});
