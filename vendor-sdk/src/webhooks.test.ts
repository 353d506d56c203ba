import { describe, expect, it } from 'vitest';
import { WebhookVerificationError, WebkeyError } from './errors.ts';
import { discoveryDocument } from './test-support.ts';
import { VendorClient } from './vendor-client.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';
import { createTestWebhook, sightings } from './webhooks.ts';

async function client(now = new Date()) {
  const { privateJwk } = await generateVendorKeyPair();
  return new VendorClient({
    clientId: 'https://shop.example/webkey-vendor.json',
    privateKey: privateJwk,
    trust: { issuers: ['https://vault.test'] },
    clock: () => now,
  });
}

describe('client.webhooks.verify', () => {
  it('accepts a genuine webhook and returns the event', async () => {
    const { body, headers, jwks, event } = await createTestWebhook({
      grantId: 'grt_1',
      paths: ['address.home'],
    });
    expect(await (await client()).webhooks.verify(body, headers, { jwks })).toEqual(event);
    const bytes = await createTestWebhook();
    expect(
      (
        await (
          await client()
        ).webhooks.verify(new TextEncoder().encode(bytes.body), new Headers(bytes.headers), {
          jwks: bytes.jwks,
        })
      ).id,
    ).toBe(bytes.event.id);
  });

  it('says clearly that a parsed object cannot be verified', async () => {
    const { body, headers, jwks } = await createTestWebhook();
    await expect(
      (await client()).webhooks.verify(JSON.parse(body), headers, { jwks }),
    ).rejects.toThrow(/raw request body/);
  });

  const refusals: [
    string,
    (w: Awaited<ReturnType<typeof createTestWebhook>>) => {
      body: string;
      headers: Record<string, string>;
    },
  ][] = [
    [
      'a changed body',
      (w) => ({ body: w.body.replace('address.home', 'address.work'), headers: w.headers }),
    ],
    [
      'a changed id',
      (w) => ({ body: w.body, headers: { ...w.headers, 'webhook-id': 'evt_other' } }),
    ],
    [
      'a changed timestamp',
      (w) => ({
        body: w.body,
        headers: {
          ...w.headers,
          'webhook-timestamp': String(Number(w.headers['webhook-timestamp']) + 1),
        },
      }),
    ],
    [
      'another signature version',
      (w) => ({
        body: w.body,
        headers: {
          ...w.headers,
          'webhook-signature': w.headers['webhook-signature']!.replace('v1es256', 'v1'),
        },
      }),
    ],
    [
      'a signature that is not base64',
      (w) => ({
        body: w.body,
        headers: { ...w.headers, 'webhook-signature': 'v1es256,%%%not-base64%%%' },
      }),
    ],
    [
      'a missing signature',
      (w) => {
        const { 'webhook-signature': _gone, ...rest } = w.headers;
        return { body: w.body, headers: rest };
      },
    ],
  ];
  it.each(refusals)('refuses %s', async (_name, forge) => {
    const genuine = await createTestWebhook();
    const { body, headers } = forge(genuine);
    await expect(
      (await client()).webhooks.verify(body, headers, { jwks: genuine.jwks }),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
  });

  it('verifies raw bytes as they arrived: other bytes that decode to the signed text are refused', async () => {
    const genuine = await createTestWebhook();
    const signedBytes = new TextEncoder().encode(genuine.body);
    // TextDecoder drops a leading byte-order mark by default: the text is the signed text.
    const withMark = new Uint8Array([0xef, 0xbb, 0xbf, ...signedBytes]);
    await expect(
      (await client()).webhooks.verify(withMark, genuine.headers, { jwks: genuine.jwks }),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
  });

  it('refuses an event for another vendor, and takes one that names no vendor (older vaults)', async () => {
    const elsewhere = await createTestWebhook({ vendor: 'https://other-shop.example/vendor.json' });
    await expect(
      (await client()).webhooks.verify(elsewhere.body, elsewhere.headers, { jwks: elsewhere.jwks }),
    ).rejects.toThrow(/another vendor/);
    const mine = await createTestWebhook({ vendor: 'https://shop.example/webkey-vendor.json' });
    expect(
      (await (await client()).webhooks.verify(mine.body, mine.headers, { jwks: mine.jwks })).vendor,
    ).toBe('https://shop.example/webkey-vendor.json');
    const older = await createTestWebhook();
    expect(older.event.vendor).toBeUndefined();
    await expect(
      (await client()).webhooks.verify(older.body, older.headers, { jwks: older.jwks }),
    ).resolves.toMatchObject({ id: older.event.id });
  });

  it('refuses a signature by another key', async () => {
    const genuine = await createTestWebhook();
    const other = await createTestWebhook();
    await expect(
      (await client()).webhooks.verify(genuine.body, genuine.headers, { jwks: other.jwks }),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
  });

  it('refuses a replay of the same delivery, and deliveries outside the tolerance', async () => {
    const webhook = await createTestWebhook();
    const receiver = await client();
    await receiver.webhooks.verify(webhook.body, webhook.headers, { jwks: webhook.jwks });
    await expect(
      receiver.webhooks.verify(webhook.body, webhook.headers, { jwks: webhook.jwks }),
    ).rejects.toThrow(/replay/);
    const old = await createTestWebhook({}, { now: new Date(Date.now() - 10 * 60 * 1000) });
    await expect(
      receiver.webhooks.verify(old.body, old.headers, { jwks: old.jwks }),
    ).rejects.toThrow(/tolerance/);
    const future = await createTestWebhook({}, { now: new Date(Date.now() + 10 * 60 * 1000) });
    await expect(
      receiver.webhooks.verify(future.body, future.headers, { jwks: future.jwks }),
    ).rejects.toThrow(/tolerance/);
  });

  it('remembers a delivery as long as a custom tolerance accepts it (no replay at 11 min under 15)', async () => {
    let now = new Date('2026-11-23T18:00:00Z');
    const { privateJwk } = await generateVendorKeyPair();
    const receiver = new VendorClient({
      clientId: 'https://shop.example/webkey-vendor.json',
      privateKey: privateJwk,
      trust: { issuers: ['https://vault.test'] },
      clock: () => now,
    });
    const { body, headers, jwks } = await createTestWebhook({}, { now });
    await receiver.webhooks.verify(body, headers, { jwks, toleranceSeconds: 900 });
    now = new Date(now.getTime() + 11 * 60_000);
    await expect(
      receiver.webhooks.verify(body, headers, { jwks, toleranceSeconds: 900 }),
    ).rejects.toThrow(/replay/);
    now = new Date(now.getTime() + 4 * 60_000 + 1000); // 15 min 1 s: outside the tolerance
    await expect(
      receiver.webhooks.verify(body, headers, { jwks, toleranceSeconds: 900 }),
    ).rejects.toThrow(/tolerance/);
  });

  it('refuses a webhook from an issuer the trust policy does not name, fetching nothing', async () => {
    const fetched: string[] = [];
    const { privateJwk } = await generateVendorKeyPair();
    const receiver = new VendorClient({
      clientId: 'https://shop.example/webkey-vendor.json',
      privateKey: privateJwk,
      trust: { issuers: ['https://vault.test'] },
      fetch: async (url) => {
        fetched.push(url);
        return new Response('{}');
      },
    });
    const webhook = await createTestWebhook();
    const headers = { ...webhook.headers, 'webhook-issuer': 'https://stranger.example' };
    await expect(receiver.webhooks.verify(webhook.body, headers)).rejects.toBeInstanceOf(
      WebhookVerificationError,
    );
    expect(fetched).toEqual([]);
  });

  it('reports a key-set outage as an outage (to answer 5xx and get the delivery again), not a forgery', async () => {
    const { privateJwk } = await generateVendorKeyPair();
    const receiver = new VendorClient({
      clientId: 'https://shop.example/webkey-vendor.json',
      privateKey: privateJwk,
      trust: { issuers: ['https://vault.test'] },
      // Discovery answers; the key set is down.
      fetch: async (url) =>
        url.endsWith('/.well-known/webkey-vault')
          ? Response.json(discoveryDocument('https://vault.test'))
          : new Response('down', { status: 503 }),
      retry: { sleep: async () => {} },
    });
    const webhook = await createTestWebhook();
    const headers = { ...webhook.headers, 'webhook-issuer': 'https://vault.test' };
    const error = await receiver.webhooks.verify(webhook.body, headers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebkeyError);
    expect(error).not.toBeInstanceOf(WebhookVerificationError);
  });
});

describe('sightings', () => {
  it('remembers a delivery while its timestamp passes the tolerance, per issuer, then lets it go', () => {
    let now = 100_000;
    const firstSighting = sightings(() => now, 3);
    expect(firstSighting('https://a.example', 'evt_1', '100', 300)).toBe(true);
    expect(firstSighting('https://b.example', 'evt_1', '100', 300)).toBe(true);
    now = 400_999; // floor(now / 1000) - 100 = 300: still inside the tolerance
    expect(firstSighting('https://a.example', 'evt_1', '100', 300)).toBe(false);
    now = 401_000; // 301 s old: the timestamp check refuses it anyway
    expect(firstSighting('https://a.example', 'evt_1', '100', 300)).toBe(true);
  });

  it('keeps deliveries as long as the largest tolerance it was asked with', () => {
    let now = 100_000;
    const firstSighting = sightings(() => now, 10);
    expect(firstSighting('i', 'evt_1', '100', 900)).toBe(true);
    expect(firstSighting('i', 'evt_2', '100', 300)).toBe(true);
    now = 999_999;
    expect(firstSighting('i', 'evt_2', '100', 900)).toBe(false);
    expect(firstSighting('i', 'evt_1', '100', 900)).toBe(false);
  });

  it('keeps a delivery seen under a small tolerance for a larger one asked with later', () => {
    let now = 100_000;
    const firstSighting = sightings(() => now, 10);
    expect(firstSighting('i', 'evt_1', '100', 300)).toBe(true);
    now = 500_000; // 400 s on: past the first tolerance, within the second
    expect(firstSighting('i', 'evt_1', '100', 900)).toBe(false);
  });

  it('stays within its capacity, forgetting the oldest first', () => {
    const firstSighting = sightings(() => 0, 2);
    for (const id of ['evt_1', 'evt_2', 'evt_3'])
      expect(firstSighting('i', id, '1', 300)).toBe(true);
    expect(firstSighting('i', 'evt_3', '1', 300)).toBe(false);
    expect(firstSighting('i', 'evt_1', '1', 300)).toBe(true);
  });
});
