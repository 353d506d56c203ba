import { vendorMetadataSchema } from '@webkey/protocol';
import { describe, expect, it } from 'vitest';
import { generateVendorKeyPair } from './vendor-keys.ts';
import { vendorMetadataDocument, vendorMetadataHandler } from './vendor-metadata.ts';

const vendorId = 'https://shop.example/.well-known/webkey-vendor.json';

describe('generateVendorKeyPair', () => {
  it.each(['ES256', 'EdDSA'] as const)('makes a %s pair named by its thumbprint', async (alg) => {
    const { privateJwk, publicJwk } = await generateVendorKeyPair(alg);
    expect(privateJwk.d).toEqual(expect.any(String));
    expect(publicJwk).not.toHaveProperty('d');
    expect(publicJwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(privateJwk.kid).toBe(publicJwk.kid);
    expect(publicJwk).toMatchObject({ alg, use: 'sig' });
  });
});

describe('vendorMetadataDocument', () => {
  it('builds a document the protocol schema accepts', async () => {
    const { publicJwk } = await generateVendorKeyPair();
    const document = vendorMetadataDocument({
      vendorId,
      name: 'Acme Optics',
      logoUri: 'https://shop.example/logo.svg',
      webhookUri: 'https://shop.example/webkey/hooks',
      publicKeys: [publicJwk],
    });
    expect(vendorMetadataSchema.parse(document)).toEqual(document);
    expect(document).toMatchObject({
      vendor_id: vendorId,
      name: 'Acme Optics',
      logo_uri: 'https://shop.example/logo.svg',
      webhook_uri: 'https://shop.example/webkey/hooks',
    });
  });

  it('refuses a private key', async () => {
    const { privateJwk } = await generateVendorKeyPair();
    expect(() =>
      vendorMetadataDocument({ vendorId, name: 'Acme', publicKeys: [privateJwk] }),
    ).toThrow(/private member\(s\) d/);
  });

  it('refuses a document without keys or with a bad vendor id', async () => {
    const { publicJwk } = await generateVendorKeyPair();
    expect(() => vendorMetadataDocument({ vendorId, name: 'Acme', publicKeys: [] })).toThrow();
    expect(() =>
      vendorMetadataDocument({ vendorId: 'shop', name: 'Acme', publicKeys: [publicJwk] }),
    ).toThrow();
  });
});

describe('vendorMetadataHandler', () => {
  it('serves the document at the vendor id path only', async () => {
    const { publicJwk } = await generateVendorKeyPair();
    const handle = vendorMetadataHandler({
      vendorId,
      name: 'Acme Optics',
      publicKeys: [publicJwk],
    });

    const response = handle(new Request(vendorId));
    expect(response?.status).toBe(200);
    expect(response?.headers.get('content-type')).toBe('application/json');
    expect(response?.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await response?.json()).toMatchObject({
      vendor_id: vendorId,
      jwks: { keys: [publicJwk] },
    });

    // Behind a proxy the host may differ; the path decides.
    const local = handle(new Request('http://localhost:3000/.well-known/webkey-vendor.json'));
    expect(local?.status).toBe(200);

    const head = handle(new Request(vendorId, { method: 'HEAD' }));
    expect(head?.status).toBe(200);
    expect(await head?.text()).toBe('');

    expect(handle(new Request(vendorId, { method: 'POST' }))?.status).toBe(405);
    expect(handle(new Request('https://shop.example/'))).toBeUndefined();
    expect(
      handle(new Request('https://shop.example/.well-known/webkey-vendor.json/x')),
    ).toBeUndefined();
  });
});
