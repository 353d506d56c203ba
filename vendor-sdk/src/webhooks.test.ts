import { describe, expect, it } from 'vitest';
import { WebhookVerificationError } from './errors.ts';
import { VendorClient } from './vendor-client.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';
import { createTestWebhook } from './webhooks.ts';

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
});
