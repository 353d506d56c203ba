import { describe, expect, it } from 'vitest';
import { harness } from './test-support.ts';
import { DIRECTORY_CACHE_MS, discoveryUrl } from './vault-directory.ts';

describe('vault discovery', () => {
  it('builds the well-known URL from the issuer', () => {
    expect(discoveryUrl('https://vault.example')).toBe(
      'https://vault.example/.well-known/webkey-vault',
    );
    expect(discoveryUrl('https://vault.example/')).toBe(
      'https://vault.example/.well-known/webkey-vault',
    );
    expect(discoveryUrl('https://host.example/tenant')).toBe(
      'https://host.example/tenant/.well-known/webkey-vault',
    );
  });

  it('refetches discovery and keys once the cache is older than five minutes', async () => {
    let now = Date.parse('2026-05-01T12:00:00Z');
    const clock = () => new Date(now);
    const { vault, makeClient } = await harness({ clock });
    const client = makeClient({ clock });
    await client.redeem((await vault.issueWebkey()).key);
    now += DIRECTORY_CACHE_MS - 1000;
    await client.redeem((await vault.issueWebkey()).key);
    expect(vault.requests.filter((r) => r.startsWith('GET /.well-known'))).toHaveLength(1);
    now += 2000;
    await client.redeem((await vault.issueWebkey()).key);
    expect(vault.requests.filter((r) => r.startsWith('GET /.well-known'))).toHaveLength(2);
    expect(vault.requests.filter((r) => r.startsWith('GET /jwks'))).toHaveLength(2);
  });

  it('refetches the key set for an unknown kid after the cooldown, not before', async () => {
    let now = Date.parse('2026-05-01T12:00:00Z');
    const clock = () => new Date(now);
    const { vault, makeClient } = await harness({ clock });
    const client = makeClient({ clock });
    await client.redeem((await vault.issueWebkey()).key);
    const rotated = await vault.issueWebkey({ header: { kid: 'rotated-key' } });
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    expect(vault.requests.filter((r) => r.startsWith('GET /jwks'))).toHaveLength(1);
    now += 31_000;
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    expect(vault.requests.filter((r) => r.startsWith('GET /jwks'))).toHaveLength(2);
  });
});
