import type { JWK } from 'jose';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { VendorKeyAlgorithm } from './client-assertion.ts';

/**
 * A vendor's signing key pair as JWKs, both with the same `kid`.
 *
 * @example
 * const { privateJwk, publicJwk }: VendorKeyPair = await generateVendorKeyPair();
 */
export interface VendorKeyPair {
  /** Keep secret: the client's `privateKey`. */
  privateJwk: JWK;
  /** Publish in the vendor metadata document. */
  publicJwk: JWK;
}

/**
 * Generates a vendor signing key pair. The `kid` is the RFC 7638 thumbprint of the public key,
 * so it names the key without any registry.
 *
 * @example
 * const { privateJwk, publicJwk } = await generateVendorKeyPair();
 * await writeFile('vendor-key.json', JSON.stringify(privateJwk), { mode: 0o600 });
 */
export async function generateVendorKeyPair(
  alg: VendorKeyAlgorithm = 'ES256',
): Promise<VendorKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const common = { kid, alg, use: 'sig' };
  return {
    privateJwk: { ...(await exportJWK(privateKey)), ...common },
    publicJwk: { ...publicJwk, ...common },
  };
}
