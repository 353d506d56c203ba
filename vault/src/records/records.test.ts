import { connect } from 'node:net';
import { problemSchema, type RecordVersion, recordVersionSchema } from '@webkey/protocol';
import { VaultCustomer, type VaultResponse } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../http/json-body.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';

const RECORDS = '/api/v1/records';

const HOME = {
  recipient: 'Ada King',
  lines: ['12 St James Square'],
  locality: 'London',
  postalCode: 'SW1Y 4JH',
  country: 'GB',
};
const HOME_MOVED = { lines: ['Ockham Park', 'Ripley Road'], locality: 'Ockham', country: 'GB' };

/** One valid example per category (every path is its own record). */
const EXAMPLES: Record<string, { category: string; content: Record<string, unknown> }> = {
  profile: {
    category: 'profile',
    content: { legalName: 'Augusta Ada King', preferredName: 'Ada', birthDate: '1815-12-10' },
  },
  contact: {
    category: 'contact',
    content: {
      emails: [{ label: 'home', address: 'ada@example.com' }],
      phones: [{ label: 'mobile', number: '+14155550123' }],
    },
  },
  'address.home': { category: 'address', content: HOME },
  'insurance.primary': {
    category: 'insurance',
    content: {
      insurer: 'Acme Health',
      plan: 'Gold',
      memberId: 'M-1234-5678',
      groupNumber: 'G-77',
      policyholder: 'Ada King',
      validUntil: '2027-12-31',
    },
  },
  'prescription.glasses': {
    category: 'prescription',
    content: {
      kind: 'eyewear',
      right: { sphere: -1.25, cylinder: -0.5, axis: 90 },
      left: { sphere: -1, add: 1.5 },
      pupillaryDistance: 62.5,
      prescriber: 'Dr Optic',
      issuedOn: '2026-01-15',
      expiresOn: '2028-01-15',
    },
  },
  'prescription.inhaler': {
    category: 'prescription',
    content: {
      kind: 'medication',
      medication: 'Salbutamol',
      strength: '100 mcg',
      dosage: 'Two puffs as needed',
      quantity: '1 inhaler',
      refills: 3,
      prescriber: 'Dr Lung',
      issuedOn: '2026-02-01',
    },
  },
  'identity_document.passport': {
    category: 'identity_document',
    content: {
      type: 'passport',
      number: 'P1234567',
      issuer: 'HM Passport Office',
      issuingCountry: 'GB',
      issuedOn: '2020-05-01',
      expiresOn: '2030-05-01',
    },
  },
  preferences: {
    category: 'preferences',
    content: {
      language: 'en-GB',
      preferredChannel: 'email',
      marketingConsent: false,
      sizes: { shoe_eu: '39' },
      dietaryNeeds: ['vegetarian'],
      notes: 'Ring twice.',
    },
  },
};

function versionOf(response: VaultResponse): RecordVersion {
  return recordVersionSchema.parse(response.body);
}

const METRICS_TOKEN = 'records-test-metrics-token-0123456789';

describe.each(TEST_ENGINES)('records on %s', (engine) => {
  let vault: TestVault;
  const clock = testClock();

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { metricsToken: METRICS_TOKEN } });
  });

  afterAll(async () => {
    await vault?.dispose();
  });

  async function customer(): Promise<VaultCustomer> {
    const c = new VaultCustomer(vault.url);
    await c.signUp();
    return c;
  }

  async function create(c: VaultCustomer, path: string, content: unknown): Promise<RecordVersion> {
    const response = await c.request('PUT', `${RECORDS}/${path}`, content, {
      'if-none-match': '*',
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return versionOf(response);
  }

  async function history(c: VaultCustomer, path: string): Promise<RecordVersion[]> {
    const response = await c.request<{ versions: unknown[] }>('GET', `${RECORDS}/${path}/versions`);
    expect(response.status).toBe(200);
    return response.body.versions.map((v) => recordVersionSchema.parse(v));
  }

  describe('create, read, update', () => {
    it('creates a record with PUT: 201, a strong ETag of the version id, and the version body', async () => {
      const c = await customer();
      const now = clock().toISOString();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME, {
        'if-none-match': '*',
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const version = versionOf(response);
      expect(response.body).toEqual({
        path: 'address.home',
        category: 'address',
        versionId: version.versionId,
        version: 1,
        deleted: false,
        content: HOME,
        createdAt: now,
      });
      expect(version.versionId).toMatch(/^ver_[A-Za-z0-9_-]{22}$/);
      expect(response.headers.get('etag')).toBe(`"${version.versionId}"`);
    });

    it('creates without any precondition when the record does not exist', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME);
      expect(response.status).toBe(201);
      expect(versionOf(response).version).toBe(1);
    });

    it('reads the current version back with the same ETag', async () => {
      const c = await customer();
      const created = await create(c, 'address.home', HOME);
      const response = await c.request('GET', `${RECORDS}/address.home`);
      expect(response.status).toBe(200);
      expect(response.headers.get('etag')).toBe(`"${created.versionId}"`);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(versionOf(response)).toEqual(created);
    });

    it('updates with If-Match: 200, version 2, a new ETag; history is newest first', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      clock.advance(60_000);
      const updatedAt = clock().toISOString();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-match': `"${first.versionId}"`,
      });
      expect(response.status).toBe(200);
      const second = versionOf(response);
      expect(second).toMatchObject({
        path: 'address.home',
        version: 2,
        deleted: false,
        content: HOME_MOVED,
        createdAt: updatedAt,
      });
      expect(second.versionId).not.toBe(first.versionId);
      expect(response.headers.get('etag')).toBe(`"${second.versionId}"`);

      const current = await c.request('GET', `${RECORDS}/address.home`);
      expect(current.headers.get('etag')).toBe(`"${second.versionId}"`);
      expect(versionOf(current).content).toEqual(HOME_MOVED);

      const versions = await history(c, 'address.home');
      expect(versions).toEqual([second, first]);
      expect(versions.map((v) => v.content)).toEqual([HOME_MOVED, HOME]);

      const old = await c.request('GET', `${RECORDS}/address.home/versions/1`);
      expect(old.status).toBe(200);
      expect(versionOf(old)).toEqual(first);
      expect(old.headers.get('etag')).toBe(`"${first.versionId}"`);
    });

    it('accepts If-Match: * and a list of tags that includes the current one', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const star = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-match': '*',
      });
      expect(star.status).toBe(200);
      const second = versionOf(star);
      const list = await c.request('PUT', `${RECORDS}/address.home`, HOME, {
        'if-match': `"${first.versionId}", "${second.versionId}"`,
      });
      expect(list.status).toBe(200);
      expect(versionOf(list).version).toBe(3);
    });

    it('answers 404 for a version that does not exist or is not a positive integer', async () => {
      const c = await customer();
      await create(c, 'address.home', HOME);
      for (const version of ['2', '0', '-1', 'abc', '1.5']) {
        const response = await c.request('GET', `${RECORDS}/address.home/versions/${version}`);
        expectProblem(response, 404, 'not_found');
      }
      expectProblem(await c.request('GET', `${RECORDS}/address.work/versions`), 404, 'not_found');
    });
  });

  describe('preconditions', () => {
    it('refuses a stale If-Match with 412 problem+json and changes nothing', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const second = versionOf(
        await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
          'if-match': `"${first.versionId}"`,
        }),
      );
      const stale = await c.request(
        'PUT',
        `${RECORDS}/address.home`,
        { ...HOME, locality: 'Stale' },
        { 'if-match': `"${first.versionId}"` },
      );
      expectProblem(stale, 412, 'precondition_failed');
      expect(stale.headers.get('etag')).toBeNull();

      expect(await history(c, 'address.home')).toHaveLength(2);
      const current = await c.request('GET', `${RECORDS}/address.home`);
      expect(versionOf(current)).toEqual(second);
    });

    it('refuses a weak If-Match tag (strong comparison) with 412', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-match': `W/"${first.versionId}"`,
      });
      expectProblem(response, 412, 'precondition_failed');
      expect(await history(c, 'address.home')).toHaveLength(1);
    });

    it('requires If-Match to replace an existing record (428)', async () => {
      const c = await customer();
      await create(c, 'address.home', HOME);
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED);
      expectProblem(response, 428, 'precondition_required');
      expect(await history(c, 'address.home')).toHaveLength(1);
      expect(versionOf(await c.request('GET', `${RECORDS}/address.home`)).content).toEqual(HOME);
    });

    it('refuses If-None-Match: * on an existing record with 412', async () => {
      const c = await customer();
      await create(c, 'address.home', HOME);
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-none-match': '*',
      });
      expectProblem(response, 412, 'precondition_failed');
      expect(await history(c, 'address.home')).toHaveLength(1);
    });

    it('refuses If-None-Match with a tag other than * (400)', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME, {
        'if-none-match': '"ver_x"',
      });
      const problem = expectProblem(response, 400, 'invalid_request');
      expect(problem.errors).toEqual([{ pointer: 'If-None-Match', message: 'expected *' }]);
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
    });

    it('refuses If-Match on a record that does not exist with 412', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME, { 'if-match': '*' });
      expectProblem(response, 412, 'precondition_failed');
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
    });
  });

  describe('delete', () => {
    it('requires If-Match to delete (428) and keeps the record', async () => {
      const c = await customer();
      const created = await create(c, 'address.home', HOME);
      expectProblem(
        await c.request('DELETE', `${RECORDS}/address.home`),
        428,
        'precondition_required',
      );
      expect(versionOf(await c.request('GET', `${RECORDS}/address.home`))).toEqual(created);
    });

    it('refuses a delete with a stale If-Match (412) and keeps the record', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const second = versionOf(
        await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
          'if-match': `"${first.versionId}"`,
        }),
      );
      const response = await c.request('DELETE', `${RECORDS}/address.home`, undefined, {
        'if-match': `"${first.versionId}"`,
      });
      expectProblem(response, 412, 'precondition_failed');
      expect(versionOf(await c.request('GET', `${RECORDS}/address.home`))).toEqual(second);
      expect(await history(c, 'address.home')).toHaveLength(2);
    });

    it('deletes with If-Match as a tombstone version; history keeps every version', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const second = versionOf(
        await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
          'if-match': `"${first.versionId}"`,
        }),
      );
      clock.advance(1000);
      const deletedAt = clock().toISOString();
      const response = await c.request('DELETE', `${RECORDS}/address.home`, undefined, {
        'if-match': `"${second.versionId}"`,
      });
      expect(response.status).toBe(200);
      const tombstone = versionOf(response);
      expect(response.body).toEqual({
        path: 'address.home',
        category: 'address',
        versionId: tombstone.versionId,
        version: 3,
        deleted: true,
        content: null,
        createdAt: deletedAt,
      });

      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
      const list = await c.request<{ records: unknown[] }>('GET', RECORDS);
      expect(list.body.records).toEqual([]);

      const versions = await history(c, 'address.home');
      expect(versions).toEqual([tombstone, second, first]);
      expect(versions[0]).toMatchObject({ version: 3, deleted: true, content: null });
      expect(versions.map((v) => v.content)).toEqual([null, HOME_MOVED, HOME]);

      const old = await c.request('GET', `${RECORDS}/address.home/versions/2`);
      expect(versionOf(old).content).toEqual(HOME_MOVED);

      // A deleted record cannot be deleted again, nor replaced with If-Match.
      const again = await c.request('DELETE', `${RECORDS}/address.home`, undefined, {
        'if-match': `"${tombstone.versionId}"`,
      });
      expectProblem(again, 412, 'precondition_failed');
      const replace = await c.request('PUT', `${RECORDS}/address.home`, HOME, { 'if-match': '*' });
      expectProblem(replace, 412, 'precondition_failed');
      expect(await history(c, 'address.home')).toHaveLength(3);
    });

    it('re-creates a deleted record as a new version (201 Created, RFC 9110 section 9.3.4)', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const deleted = await c.request('DELETE', `${RECORDS}/address.home`, undefined, {
        'if-match': `"${first.versionId}"`,
      });
      expect(deleted.status).toBe(200);

      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-none-match': '*',
      });
      const recreated = versionOf(response);
      expect(recreated).toMatchObject({ version: 3, deleted: false, content: HOME_MOVED });
      expect(response.headers.get('etag')).toBe(`"${recreated.versionId}"`);
      const current = await c.request('GET', `${RECORDS}/address.home`);
      expect(current.status).toBe(200);
      expect(versionOf(current)).toEqual(recreated);
      expect((await history(c, 'address.home')).map((v) => [v.version, v.deleted])).toEqual([
        [3, false],
        [2, true],
        [1, false],
      ]);
      // The record had no current representation, so the PUT created one.
      expect(response.status).toBe(201);
    });

    it('answers 404 for an unknown path on delete', async () => {
      const c = await customer();
      const response = await c.request('DELETE', `${RECORDS}/foo.bar`, undefined, {
        'if-match': '*',
      });
      expectProblem(response, 404, 'not_found');
    });
  });

  describe('list', () => {
    it('lists the live records by path, and filters by category', async () => {
      const c = await customer();
      const home = await create(c, 'address.home', HOME);
      const work = await create(c, 'address.work', HOME_MOVED);
      const profile = await create(c, 'profile', { legalName: 'Ada King' });

      const all = await c.request<{ records: unknown[] }>('GET', RECORDS);
      expect(all.status).toBe(200);
      expect(all.headers.get('cache-control')).toBe('no-store');
      expect(all.body).toEqual({ records: [home, work, profile] });

      const addresses = await c.request<{ records: unknown[] }>(
        'GET',
        `${RECORDS}?category=address`,
      );
      expect(addresses.status).toBe(200);
      expect(addresses.body).toEqual({ records: [home, work] });

      const none = await c.request<{ records: unknown[] }>('GET', `${RECORDS}?category=insurance`);
      expect(none.status).toBe(200);
      expect(none.body).toEqual({ records: [] });
    });

    it('lists in code-point order of the path on every engine', async () => {
      const c = await customer();
      for (const path of ['address.homea', 'address.home_b', 'address.home']) {
        await create(c, path, HOME);
      }
      const list = await c.request<{ records: RecordVersion[] }>(
        'GET',
        `${RECORDS}?category=address`,
      );
      expect(list.body.records.map((r) => r.path)).toEqual([
        'address.home',
        'address.home_b',
        'address.homea',
      ]);
    });

    it('shows the current version of each record only', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const second = versionOf(
        await c.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
          'if-match': `"${first.versionId}"`,
        }),
      );
      const list = await c.request<{ records: unknown[] }>('GET', RECORDS);
      expect(list.body).toEqual({ records: [second] });
    });

    it('refuses an unknown category with 400', async () => {
      const c = await customer();
      for (const category of ['foo', 'Address', '']) {
        const response = await c.request('GET', `${RECORDS}?category=${category}`);
        const problem = expectProblem(response, 400, 'invalid_request');
        expect(problem.errors?.map((e) => e.pointer)).toEqual(['category']);
      }
    });
  });

  describe('every category', () => {
    it('writes and reads back one valid example of every category', async () => {
      const c = await customer();
      const written: RecordVersion[] = [];
      for (const [path, { category, content }] of Object.entries(EXAMPLES)) {
        const version = await create(c, path, content);
        expect(version).toMatchObject({ path, category, version: 1, deleted: false, content });
        written.push(version);
        const read = await c.request('GET', `${RECORDS}/${path}`);
        expect(read.status).toBe(200);
        expect(versionOf(read)).toEqual(version);
      }
      const list = await c.request<{ records: RecordVersion[] }>('GET', RECORDS);
      expect(list.body.records.map((r) => r.path)).toEqual(Object.keys(EXAMPLES).sort());
      for (const record of list.body.records) {
        expect(record.content).toEqual(EXAMPLES[record.path]?.content);
      }
      const prescriptions = await c.request<{ records: RecordVersion[] }>(
        'GET',
        `${RECORDS}?category=prescription`,
      );
      expect(prescriptions.body.records.map((r) => r.path)).toEqual([
        'prescription.glasses',
        'prescription.inhaler',
      ]);
    });

    it('stores the normalized content (trimmed text, contact defaults)', async () => {
      const c = await customer();
      const profile = await create(c, 'profile', { legalName: '  Ada King  ' });
      expect(profile.content).toEqual({ legalName: 'Ada King' });
      const contact = await create(c, 'contact', {});
      expect(contact.content).toEqual({ emails: [], phones: [] });
      const read = await c.request('GET', `${RECORDS}/contact`);
      expect(versionOf(read).content).toEqual({ emails: [], phones: [] });
    });
  });

  describe('validation', () => {
    const invalid: [string, string, unknown, string][] = [
      [
        'an address without country',
        'address.home',
        { lines: ['1 Main St'], locality: 'X' },
        '/country',
      ],
      ['a three-letter country', 'address.home', { ...HOME, country: 'usa' }, '/country'],
      ['an address with no lines', 'address.home', { ...HOME, lines: [] }, '/lines'],
      ['a bad birth date', 'profile', { legalName: 'Ada', birthDate: '2023-02-30' }, '/birthDate'],
      [
        'a contact e-mail that is not one',
        'contact',
        { emails: [{ label: 'home', address: 'not-an-email' }] },
        '/emails/0/address',
      ],
      [
        'a phone number not in international format',
        'contact',
        { phones: [{ label: 'home', number: '0301234567' }] },
        '/phones/0/number',
      ],
      [
        'a sphere not in quarter dioptres',
        'prescription.glasses',
        { ...EXAMPLES['prescription.glasses']?.content, left: { sphere: -1.1 } },
        '/left/sphere',
      ],
      [
        'an unknown prescription kind',
        'prescription.other',
        { kind: 'hearing', prescriber: 'Dr', issuedOn: '2026-01-01' },
        '/kind',
      ],
      [
        'an identity document of an unknown type',
        'identity_document.card',
        { type: 'library_card', number: '1', issuer: 'X', expiresOn: '2030-01-01' },
        '/type',
      ],
      ['a non-object body', 'profile', ['Ada'], ''],
    ];

    it.each(invalid)(
      'refuses %s with 400 and a pointer, storing nothing',
      async (_, path, body, pointer) => {
        const c = await customer();
        const response = await c.request('PUT', `${RECORDS}/${path}`, body);
        const problem = expectProblem(response, 400, 'invalid_request');
        if (pointer !== '') expect(problem.errors?.map((e) => e.pointer)).toContain(pointer);
        expect(problem.errors?.length).toBeGreaterThan(0);
        expectProblem(await c.request('GET', `${RECORDS}/${path}`), 404, 'not_found');
        expectProblem(await c.request('GET', `${RECORDS}/${path}/versions`), 404, 'not_found');
      },
    );

    it('refuses an unknown extra field, naming it in the pointer', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, {
        ...HOME,
        nickname: 'Home sweet home',
      });
      const problem = expectProblem(response, 400, 'invalid_request');
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
      expect(problem.errors?.map((e) => e.pointer)).toEqual(['/nickname']);
    });

    it('refuses eyewear with a cylinder but no axis, pointing at that eye', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/prescription.glasses`, {
        kind: 'eyewear',
        right: { sphere: -1, cylinder: -0.5 },
        left: { sphere: -1 },
        prescriber: 'Dr Optic',
        issuedOn: '2026-01-15',
      });
      const problem = expectProblem(response, 400, 'invalid_request');
      expect(problem.errors?.[0]?.message).toBe(
        'Cylinder and axis go together: give both or neither.',
      );
      expectProblem(await c.request('GET', `${RECORDS}/prescription.glasses`), 404, 'not_found');
      expect(problem.errors?.map((e) => e.pointer)).toEqual([
        expect.stringMatching(/^\/right(\/(axis|cylinder))?$/),
      ]);
    });

    it('escapes JSON Pointer tokens in the pointer (RFC 6901: / becomes ~1)', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/preferences`, {
        sizes: { 'Shoe/EU': '39' },
      });
      const problem = expectProblem(response, 400, 'invalid_request');
      expect(problem.errors?.map((e) => e.pointer)).toEqual(['/sizes/Shoe~1EU']);
    });

    it('keeps the current version when an update is invalid', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const response = await c.request(
        'PUT',
        `${RECORDS}/address.home`,
        { ...HOME, country: 'usa' },
        { 'if-match': `"${first.versionId}"` },
      );
      expectProblem(response, 400, 'invalid_request');
      expect(versionOf(await c.request('GET', `${RECORDS}/address.home`))).toEqual(first);
      expect(await history(c, 'address.home')).toHaveLength(1);
    });

    it.each(['address', 'foo.bar', 'Address.Home', 'address.Home', 'profile.main', 'address.'])(
      'answers 404 for the unknown path %s on every method',
      async (path) => {
        const c = await customer();
        expectProblem(await c.request('PUT', `${RECORDS}/${path}`, HOME), 404, 'not_found');
        expectProblem(await c.request('GET', `${RECORDS}/${path}`), 404, 'not_found');
        expectProblem(await c.request('GET', `${RECORDS}/${path}/versions`), 404, 'not_found');
        expectProblem(await c.request('GET', `${RECORDS}/${path}/versions/1`), 404, 'not_found');
        const list = await c.request<{ records: unknown[] }>('GET', RECORDS);
        expect(list.body).toEqual({ records: [] });
      },
    );

    it('refuses a body that is not application/json with 415', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, JSON.stringify(HOME), {
        'content-type': 'text/plain',
      });
      expectProblem(response, 415, 'unsupported_media_type');
      const missing = await c.request('PUT', `${RECORDS}/address.home`, JSON.stringify(HOME));
      expectProblem(missing, 415, 'unsupported_media_type');
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
    });

    it('accepts application/json with a charset parameter', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, JSON.stringify(HOME), {
        'content-type': 'application/json; charset=utf-8',
      });
      expect(response.status).toBe(201);
    });

    it('refuses malformed JSON with 400', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, '{"lines": ["1 Main St"', {
        'content-type': 'application/json',
      });
      const problem = expectProblem(response, 400, 'invalid_request');
      expect(problem.detail).toBe('The body is not valid JSON.');
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const c = await customer();
      const body = JSON.stringify({ notes: 'x'.repeat(MAX_JSON_BODY_BYTES) });
      expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024);
      const response = await c.request('PUT', `${RECORDS}/preferences`, body, {
        'content-type': 'application/json',
      });
      expectProblem(response, 413, 'payload_too_large');
      expectProblem(await c.request('GET', `${RECORDS}/preferences`), 404, 'not_found');
    });

    it('refuses a chunked body over 64 KiB (no Content-Length) with 413', async () => {
      const c = await customer();
      const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"notes":"'));
          if (sent < 5) controller.enqueue(chunk);
          else {
            controller.enqueue(new TextEncoder().encode('"}'));
            controller.close();
          }
          sent += 1;
        },
      });
      const response = await fetch(new URL(`${RECORDS}/preferences`, vault.url), {
        method: 'PUT',
        headers: { origin: c.origin, cookie: c.cookie ?? '', 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const text = await response.text();
      expectProblem(
        { status: response.status, headers: response.headers, body: JSON.parse(text) },
        413,
        'payload_too_large',
      );
      expectProblem(await c.request('GET', `${RECORDS}/preferences`), 404, 'not_found');
    });
    it('settles a body the client cuts off (400, nothing stored) and keeps serving', async () => {
      const c = await customer();
      const url = new URL(`${RECORDS}/preferences`, vault.url);
      const partial = '{"notes":"cut';
      const socket = connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(
        [
          `PUT ${url.pathname} HTTP/1.1`,
          `host: ${url.host}`,
          `origin: ${c.origin}`,
          `cookie: ${c.cookie ?? ''}`,
          'content-type: application/json',
          `content-length: ${partial.length + 100}`,
          '',
          partial,
        ].join('\r\n'),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      // The handler settles (it is counted, with 400) instead of waiting for the rest forever.
      const settled = /webkey_http_requests_total\{method="PUT",route="[^"]*",status="400"\}/;
      for (let i = 0; i < 100; i++) {
        const metrics = await (
          await fetch(new URL('/metrics', vault.url), {
            headers: { authorization: `Bearer ${METRICS_TOKEN}` },
          })
        ).text();
        if (settled.test(metrics)) break;
        if (i === 99) throw new Error('the cut-off request never settled');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expectProblem(await c.request('GET', `${RECORDS}/preferences`), 404, 'not_found');
    });
  });

  describe('access', () => {
    it('refuses every records request without a session with 401', async () => {
      const owner = await customer();
      await create(owner, 'address.home', HOME);
      const anonymous = new VaultCustomer(vault.url);
      const requests: [string, string, unknown?, Record<string, string>?][] = [
        ['GET', RECORDS],
        ['GET', `${RECORDS}/address.home`],
        ['GET', `${RECORDS}/address.home/versions`],
        ['GET', `${RECORDS}/address.home/versions/1`],
        ['PUT', `${RECORDS}/address.work`, HOME, { 'if-none-match': '*' }],
        ['DELETE', `${RECORDS}/address.home`, undefined, { 'if-match': '*' }],
      ];
      for (const [method, path, body, headers] of requests) {
        const response = await anonymous.request(method, path, body, headers);
        expectProblem(response, 401, 'unauthenticated');
      }
      const forged = await anonymous.request('GET', RECORDS, undefined, {
        cookie: 'webkey_session=forged-session-secret',
      });
      expectProblem(forged, 401, 'unauthenticated');
      expect(versionOf(await owner.request('GET', `${RECORDS}/address.home`)).content).toEqual(
        HOME,
      );
    });

    it('refuses records requests after sign-out with 401', async () => {
      const c = await customer();
      await create(c, 'address.home', HOME);
      const cookie = c.cookie;
      expect(cookie).toBeDefined();
      const signOut = await c.request('POST', '/api/v1/auth/sign-out');
      expect(signOut.status).toBeLessThan(300);
      const replay = await c.request('GET', `${RECORDS}/address.home`, undefined, {
        cookie: cookie ?? '',
      });
      expectProblem(replay, 401, 'unauthenticated');
    });

    it('refuses a write from another origin with 403 and stores nothing', async () => {
      const c = await customer();
      const response = await c.request('PUT', `${RECORDS}/address.home`, HOME, {
        origin: 'https://evil.example',
      });
      expectProblem(response, 403, 'forbidden_origin');
      expectProblem(await c.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
    });

    it('sends the request id and security headers on refusals as on every other response', async () => {
      const c = await customer();
      const ok = await c.request('GET', RECORDS);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toMatch(/^req_/);
      expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
      const refusals = [
        await c.request('GET', `${RECORDS}/address.home`),
        await new VaultCustomer(vault.url).request('GET', RECORDS),
        await c.request('PUT', `${RECORDS}/address.home`, 'not json', {
          'content-type': 'text/plain',
        }),
      ];
      for (const response of refusals) {
        const problem = problemSchema.parse(response.body);
        expect(response.headers.get('x-request-id')).toBe(problem.requestId);
        expect(response.headers.get('x-content-type-options')).toBe('nosniff');
        expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      }
    });

    it("keeps customers apart: B cannot read, change or delete A's record", async () => {
      const a = await customer();
      const b = await customer();
      const home = await create(a, 'address.home', HOME);

      expectProblem(await b.request('GET', `${RECORDS}/address.home`), 404, 'not_found');
      expectProblem(await b.request('GET', `${RECORDS}/address.home/versions`), 404, 'not_found');
      expectProblem(await b.request('GET', `${RECORDS}/address.home/versions/1`), 404, 'not_found');
      expect((await b.request('GET', RECORDS)).body).toEqual({ records: [] });
      const steal = await b.request('PUT', `${RECORDS}/address.home`, HOME_MOVED, {
        'if-match': `"${home.versionId}"`,
      });
      expectProblem(steal, 412, 'precondition_failed');
      const remove = await b.request('DELETE', `${RECORDS}/address.home`, undefined, {
        'if-match': `"${home.versionId}"`,
      });
      expectProblem(remove, 412, 'precondition_failed');

      // B's own record on the same path is separate from A's.
      const own = await create(b, 'address.home', HOME_MOVED);
      expect(own.version).toBe(1);
      expect(versionOf(await a.request('GET', `${RECORDS}/address.home`))).toEqual(home);
      expect(versionOf(await b.request('GET', `${RECORDS}/address.home`))).toEqual(own);
      expect(await history(a, 'address.home')).toEqual([home]);
    });
  });

  describe('concurrency', () => {
    it('lets exactly one of 10 parallel updates with the same If-Match win', async () => {
      const c = await customer();
      const first = await create(c, 'address.home', HOME);
      const bodies = Array.from({ length: 10 }, (_, i) => ({ ...HOME, locality: `Town ${i}` }));
      const responses = await Promise.all(
        bodies.map((body) =>
          c.request('PUT', `${RECORDS}/address.home`, body, { 'if-match': `"${first.versionId}"` }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(9);
      for (const response of responses) {
        if (response.status === 412) expectProblem(response, 412, 'precondition_failed');
      }
      const winner = versionOf(responses.find((r) => r.status === 200)!);
      expect(winner.version).toBe(2);

      const versions = await history(c, 'address.home');
      expect(versions).toEqual([winner, first]);
      expect(versionOf(await c.request('GET', `${RECORDS}/address.home`))).toEqual(winner);
    });

    it('lets exactly one of 10 parallel creates with If-None-Match: * win', async () => {
      const c = await customer();
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          c.request(
            'PUT',
            `${RECORDS}/address.home`,
            { ...HOME, locality: `Town ${i}` },
            {
              'if-none-match': '*',
            },
          ),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(9);
      for (const response of responses) {
        if (response.status === 412) expectProblem(response, 412, 'precondition_failed');
      }
      const winner = versionOf(responses.find((r) => r.status === 201)!);
      expect(await history(c, 'address.home')).toEqual([winner]);
    });
  });
});
