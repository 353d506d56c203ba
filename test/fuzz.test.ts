import { PROBLEM_MEDIA_TYPE, problemSchema } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Hostile input against every endpoint that takes a body: malformed, oversized, deeply nested,
 * wrong-type, prototype-polluting and wrong-content-type requests. The vault must answer each
 * with a problem+json 4xx, never a 5xx, and change nothing stored.
 */
describe('fuzzing every body-taking endpoint', () => {
  let vault: TestVault;
  let customer: VaultCustomer;
  let vendor: TestVendor;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    vendor = await TestVendor.start('Fuzz Shop');
    customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Stable St'], locality: 'Oslo', country: 'NO' },
      201,
    );
  });
  afterAll(async () => {
    await vendor.stop();
    await vault.dispose();
  });

  const ENDPOINTS: [string, string][] = [
    ['POST', '/api/v1/auth/sign-up/options'],
    ['POST', '/api/v1/auth/sign-up/verify'],
    ['POST', '/api/v1/auth/sign-in/options'],
    ['POST', '/api/v1/auth/sign-in/verify'],
    ['POST', '/api/v1/auth/recover/options'],
    ['POST', '/api/v1/auth/recover/verify'],
    ['POST', '/api/v1/passkeys/options'],
    ['POST', '/api/v1/passkeys/verify'],
    ['POST', '/api/v1/recovery-codes'],
    ['PUT', '/api/v1/records/address.home'],
    ['PUT', '/api/v1/records/profile'],
    ['PUT', '/api/v1/records/prescription.glasses'],
    ['POST', '/api/v1/webkeys'],
    ['POST', '/vendor/v1/redeem'],
    ['POST', '/vendor/v1/grants/read'],
    ['POST', '/vendor/v1/deposit'],
    ['POST', '/api/v1/inbox/dep_x/accept'],
  ];

  /** Everything stored, as one comparable snapshot. */
  async function snapshot(): Promise<string> {
    const db = vault.ctx.db;
    const tables = [
      'customers',
      'passkeys',
      'records',
      'record_versions',
      'webkeys',
      'grants',
      'deposits',
      'audit_entries',
      'recovery_codes',
    ] as const;
    const parts: unknown[] = [];
    for (const table of tables) parts.push(await db.selectFrom(table).selectAll().execute());
    return JSON.stringify(parts, (_key, value) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value,
    );
  }

  const hostileJson = fc.oneof(
    fc.json({ maxDepth: 6 }),
    fc.constant('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
    fc.constant(`${'['.repeat(5000)}${']'.repeat(5000)}`),
    fc.constant(`{"lines":["${'x'.repeat(70_000)}"]}`),
    fc.constant('{"scope":"address.home","purpose":1,"uses":"1"}'),
    fc.constant('{"client_assertion_type":"x","client_assertion":["a"],"key":{"$ne":null}}'),
    fc.constant('not json at all'),
    fc.string({ maxLength: 200 }),
  );

  it('never answers hostile bodies with a 5xx, refuses with problem+json, and stores nothing', async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        hostileJson,
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=utf-8',
        ),
        async ([method, path], body, contentType) => {
          const answer = await customer.request(method, path, body, {
            'content-type': contentType,
          });
          // A random body may happen to be valid (`{}` asks for sign-in options); it must never
          // crash the vault, and every refusal is a problem document.
          expect(answer.status, `${method} ${path} ${body.slice(0, 80)}`).toBeLessThan(500);
          if (answer.status >= 400) {
            expect(answer.headers.get('content-type')).toBe(PROBLEM_MEDIA_TYPE);
            expect(problemSchema.safeParse(answer.body).success).toBe(true);
          }
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 250, seed: 20261123 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('refuses a valid-looking redemption carrying junk, without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 300 }),
        fc.string({ maxLength: 60 }),
        async (key, code) => {
          for (const presented of [{ key: key || 'x' }, { code: code || 'x' }]) {
            const answer = await vendor.redeem(vault.url, presented, { assertion: key || 'junk' });
            expect(answer.status).toBeGreaterThanOrEqual(400);
            expect(answer.status).toBeLessThan(500);
          }
        },
      ),
      { numRuns: 60, seed: 7 },
    );
  });
});
