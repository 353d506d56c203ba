import type { JWK } from 'jose';
import type { VendorKeyAlgorithm } from '../client-assertion.ts';
import { generateVendorKeyPair } from '../vendor-keys.ts';

/**
 * A vendor identity for tests: an id and a fresh key pair.
 *
 * @example
 * const { vendorId, privateJwk, vendorKeys } = await testVendor();
 */
export interface TestVendor {
  vendorId: string;
  privateJwk: JWK;
  publicJwk: JWK;
  /** `{ [vendorId]: [publicJwk] }`, ready for `startTestVault({ vendorKeys })`. */
  vendorKeys: Record<string, JWK[]>;
}

/**
 * Makes a test vendor with a fresh key pair.
 *
 * @example
 * const vendor = await testVendor('https://shop.example/webkey-vendor.json');
 * const vault = await startTestVault({ vendorKeys: vendor.vendorKeys });
 */
export async function testVendor(
  vendorId = 'https://shop.example/webkey-vendor.json',
  alg: VendorKeyAlgorithm = 'ES256',
): Promise<TestVendor> {
  const { privateJwk, publicJwk } = await generateVendorKeyPair(alg);
  return { vendorId, privateJwk, publicJwk, vendorKeys: { [vendorId]: [publicJwk] } };
}
