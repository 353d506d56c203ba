import { VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestVault, type TestVault } from '../testing/test-vault.ts';

describe('headers on every response', () => {
  let plain: TestVault;
  let secure: TestVault;

  beforeAll(async () => {
    plain = await startTestVault('sqlite');
    // Served here over http on 127.0.0.1, as behind a TLS-terminating proxy.
    secure = await startTestVault('sqlite', { config: { publicUrl: 'https://vault.example' } });
  });
  afterAll(async () => {
    await plain.dispose();
    await secure.dispose();
  });

  it('tells browsers to keep to https when the vault is served over https, and only then', async () => {
    for (const path of ['/healthz', '/', '/api/v1/auth/session', '/no/such/page']) {
      const response = await fetch(new URL(path, `http://127.0.0.1:${secure.port}`));
      expect(response.headers.get('strict-transport-security'), path).toBe('max-age=31536000');
      const overHttp = await fetch(new URL(path, plain.url));
      expect(overHttp.headers.get('strict-transport-security'), path).toBeNull();
    }
  });

  it('marks every customer API answer no-store, those that forgot to say so included', async () => {
    const customer = new VaultCustomer(plain.url);
    await customer.signUp();
    for (const path of [
      '/api/v1/auth/session',
      '/api/v1/passkeys',
      '/api/v1/recovery-codes',
      '/api/v1/records',
      '/api/v1/no-such-route',
    ]) {
      const response = await customer.request('GET', path);
      expect(response.headers.get('cache-control'), path).toBe('no-store');
    }
    const signedOut = await new VaultCustomer(plain.url).request('GET', '/api/v1/passkeys');
    expect(signedOut.status).toBe(401);
    expect(signedOut.headers.get('cache-control')).toBe('no-store');
  });
});
