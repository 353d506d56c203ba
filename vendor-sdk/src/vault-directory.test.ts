import { VAULT_METADATA_PATH } from '@webkey/protocol';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { VaultResponseError } from './errors.ts';
import { discoveryDocument, harness } from './test-support.ts';
import { MAX_ANSWER_BYTES, MAX_DOCUMENT_BYTES } from './vault-answers.ts';
import { DIRECTORY_CACHE_MS, discoveryUrl, JWKS_REFRESH_COOLDOWN_MS } from './vault-directory.ts';
import { VendorClient } from './vendor-client.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';

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

  it('refetches the key set for an unknown kid, past HTTP caches, then not again within the cooldown', async () => {
    let now = Date.parse('2026-05-01T12:00:00Z');
    const clock = () => new Date(now);
    const keySetHeaders: Record<string, string>[] = [];
    const { vault, makeClient } = await harness({ clock });
    const client = makeClient({
      clock,
      fetch: (url, init) => {
        if (url.includes('/jwks')) keySetHeaders.push(init.headers as Record<string, string>);
        return fetch(url, init);
      },
    });
    await client.redeem((await vault.issueWebkey()).key);
    const rotated = await vault.issueWebkey({ header: { kid: 'rotated-key' } });
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    expect(keySetHeaders.map((h) => h['cache-control'])).toEqual([undefined, 'no-cache']);
    now += 29_000;
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    expect(keySetHeaders).toHaveLength(2);
    now += 2_000;
    await expect(client.redeem(rotated.key)).rejects.toThrow(/failed verification/);
    expect(keySetHeaders).toHaveLength(3);
  });

  it('verifies a key signed with a new kid just after a routine key-set fetch (rotation, protocol 4)', async () => {
    const now = new Date('2026-11-23T18:00:00Z');
    const issuer = 'https://vault.example';
    const signingKey = async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const jwk = await exportJWK(pair.publicKey);
      const kid = `sig_${(await calculateJwkThumbprint(jwk)).slice(0, 22)}`;
      return { privateKey: pair.privateKey, kid, jwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
    };
    const [oldKey, newKey] = [await signingKey(), await signingKey()];
    let published = [oldKey.jwk];
    const keySetFetches: string[] = [];
    const fetch = async (url: string) => {
      if (url.endsWith(VAULT_METADATA_PATH)) {
        return Response.json(discoveryDocument(issuer));
      }
      if (url.endsWith('/jwks.json')) {
        keySetFetches.push(url);
        return Response.json({ keys: published });
      }
      return new Response(null, { status: 503 }); // the redemption: not what this test is about
    };
    const sign = (key: typeof oldKey) =>
      new SignJWT({ scope: ['profile'], purpose: 'x', uses: 1, jti: `wk_${'a'.repeat(22)}` })
        .setProtectedHeader({ alg: 'ES256', typ: 'webkey+jwt', kid: key.kid })
        .setIssuer(issuer)
        .setIssuedAt(Math.floor(now.getTime() / 1000))
        .setExpirationTime(Math.floor(now.getTime() / 1000) + 600)
        .sign(key.privateKey);
    const { privateJwk } = await generateVendorKeyPair();
    const client = new VendorClient({
      clientId: 'https://shop.example/webkey-vendor.json',
      privateKey: privateJwk,
      trust: { issuers: [issuer] },
      fetch,
      clock: () => now,
      retry: { maxAttempts: 1 },
    });
    // A routine fetch fills the cache; at once the vault rotates (there is no pre-publication).
    await expect(client.redeem(await sign(oldKey))).rejects.toBeInstanceOf(VaultResponseError);
    published = [newKey.jwk, oldKey.jwk];
    // Verified after one refetch, and sent (the 503 proves it left): not refused as forged.
    await expect(client.redeem(await sign(newKey))).rejects.toBeInstanceOf(VaultResponseError);
    expect(keySetFetches).toHaveLength(2);
  });

  it.each([
    [
      'a redemption endpoint on another host',
      { redemption_endpoint: 'https://harvest.example/collect' },
    ],
    ['a key set on another port', { jwks_uri: 'http://127.0.0.1:1/jwks' }],
    ['a grant endpoint at a metadata address', { grant_read_endpoint: 'http://169.254.169.254/x' }],
    ['a deposit endpoint over another scheme', { deposit_endpoint: 'https://127.0.0.1/deposit' }],
  ])('refuses a discovery document naming %s, sending nothing there', async (_what, overrides) => {
    const { vault, client, fetches } = await harness();
    vault.setDiscovery(overrides);
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect((error as Error).message).toMatch(/off the issuer's origin; refused/);
    expect(fetches).toEqual([`GET ${vault.issuer}/.well-known/webkey-vault`]);
    expect(vault.redemptions).toEqual([]);
  });

  it('refuses documents and answers larger than their limits, declared or streamed', async () => {
    const huge = (bytes: number, declare: boolean) =>
      new Response(
        new ReadableStream({
          start(controller) {
            for (let sent = 0; sent <= bytes; sent += 16_384) {
              controller.enqueue(new Uint8Array(16_384).fill(0x20));
            }
            controller.close();
          },
        }),
        { status: 200, headers: declare ? { 'content-length': String(bytes + 16_384) } : {} },
      );
    for (const declare of [true, false]) {
      const discovery = await harness({}, { fetch: async () => huge(MAX_DOCUMENT_BYTES, declare) });
      const key = (await discovery.vault.issueWebkey()).key;
      await expect(discovery.client.redeem(key)).rejects.toThrow(
        `The vault's discovery document is larger than ${MAX_DOCUMENT_BYTES} bytes; refused.`,
      );
      const answer = await harness(
        {},
        {
          fetch: (url, init) =>
            init.method === 'POST'
              ? Promise.resolve(huge(MAX_ANSWER_BYTES, declare))
              : fetch(url, init),
        },
      );
      await expect(answer.client.redeem((await answer.vault.issueWebkey()).key)).rejects.toThrow(
        `The vault's redemption answer is larger than ${MAX_ANSWER_BYTES} bytes; refused.`,
      );
    }
  });

  it('shares one discovery and one key-set fetch among concurrent redemptions', async () => {
    const { vault, client } = await harness();
    const keys = await Promise.all(Array.from({ length: 10 }, () => vault.issueWebkey()));
    await Promise.all(keys.map((key) => client.redeem(key.key)));
    expect(vault.requests.filter((r) => r.startsWith('GET /.well-known'))).toHaveLength(1);
    expect(vault.requests.filter((r) => r.startsWith('GET /jwks'))).toHaveLength(1);
  });

  it('keeps to the key-set cooldown when the refetch failed, and for many unknown kids at once', async () => {
    let now = Date.parse('2026-05-01T12:00:00Z');
    const clock = () => new Date(now);
    let keySetDown = false;
    let keySetFetches = 0;
    const { vault, makeClient } = await harness({ clock });
    const client = makeClient({
      clock,
      fetch: (url, init) => {
        if (!url.includes('/jwks')) return fetch(url, init);
        keySetFetches += 1;
        return keySetDown
          ? Promise.resolve(new Response('down', { status: 503 }))
          : fetch(url, init);
      },
      retry: { sleep: async () => {}, maxAttempts: 1 },
    });
    await client.redeem((await vault.issueWebkey()).key);
    now += JWKS_REFRESH_COOLDOWN_MS + 1000;
    keySetDown = true;
    const forged = await Promise.all(
      Array.from({ length: 5 }, (_, i) => vault.issueWebkey({ header: { kid: `made-up-${i}` } })),
    );
    const tries = () => Promise.allSettled(forged.map((key) => client.redeem(key.key)));
    await tries();
    await tries();
    // The first fetch, then one refetch (it failed) shared by the five; none again within the
    // cooldown.
    expect(keySetFetches).toBe(2);
  });
});
