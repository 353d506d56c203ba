import type { IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultError } from '../http/vault-error.ts';
import { startTestVault, type TestVault } from '../testing/test-vault.ts';
import { REFUSAL_FLOOR_MS, withRefusalFloor } from './refusal-floor.ts';

describe('refusal floor', () => {
  it('holds a refusal back until the floor, and passes other outcomes through unchanged', async () => {
    let started = performance.now();
    await expect(
      withRefusalFloor(async () => Promise.reject(new VaultError('webkey_refused'))),
    ).rejects.toMatchObject({
      code: 'webkey_refused',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(REFUSAL_FLOOR_MS);
    started = performance.now();
    await expect(
      withRefusalFloor(async () => Promise.reject(new VaultError('grant_refused'))),
    ).rejects.toMatchObject({
      code: 'grant_refused',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(REFUSAL_FLOOR_MS);
    await expect(withRefusalFloor(async () => 'granted')).resolves.toBe('granted');
    await expect(
      withRefusalFloor(async () => Promise.reject(new VaultError('invalid_client'))),
    ).rejects.toMatchObject({
      code: 'invalid_client',
    });
  });

  describe('over HTTP', () => {
    let vault: TestVault;
    let vendor: TestVendor;
    let revoked: IssuedWebkey;

    beforeAll(async () => {
      vault = await startTestVault('sqlite', { config: { devMode: true } });
      vendor = await TestVendor.start('Timing Shop');
      const customer = new VaultCustomer(vault.url);
      await customer.signUp();
      revoked = await customer.expect<IssuedWebkey>(
        'POST',
        '/api/v1/webkeys',
        { scope: ['profile'], purpose: 'Timing' },
        201,
      );
      await customer.expect('DELETE', `/api/v1/webkeys/${revoked.id}`);
    });
    afterAll(async () => {
      await vendor.stop();
      await vault.dispose();
    });

    it('takes at least the floor to refuse a known key and an unknown code alike', async () => {
      for (const presented of [
        { key: revoked.key },
        { code: revoked.shortCode },
        { code: '0000-0000-0000' },
      ]) {
        const assertion = await vendor.assertion(vault.url);
        const started = performance.now();
        const answer = await vendor.redeem(vault.url, presented, { assertion });
        expect(answer.status).toBe(403);
        expect(performance.now() - started).toBeGreaterThanOrEqual(REFUSAL_FLOOR_MS);
      }
    });
  });
});
