import type { CLIENT_ASSERTION_ALGORITHMS } from '@webkey/protocol';
import { CLIENT_ASSERTION_JWT_TYPE } from '@webkey/protocol';
import type { CryptoKey, JWK, KeyObject } from 'jose';
import { calculateJwkThumbprint, exportJWK, importJWK, SignJWT } from 'jose';

/**
 * The vendor's proof of identity on every request: an RFC 7523 `private_key_jwt` client
 * assertion, typed `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis) so it cannot pass
 * for any other JWT, with its audience the vault's exact issuer string, and a fresh `jti` per
 * HTTP attempt because vaults refuse a `jti` they have seen.
 */

/**
 * A vendor's private key: a private JWK, a Web Crypto `CryptoKey` or a Node `KeyObject`.
 *
 * @example
 * const privateKey: VendorPrivateKey = JSON.parse(await readFile('vendor-key.json', 'utf8'));
 */
export type VendorPrivateKey = JWK | CryptoKey | KeyObject;

/** Algorithms a vendor may sign with. @example const alg: VendorKeyAlgorithm = 'EdDSA'; */
export type VendorKeyAlgorithm = (typeof CLIENT_ASSERTION_ALGORITHMS)[number];

/**
 * How long an assertion is valid, in seconds (the protocol allows up to 300).
 *
 * @example
 * payload.exp - payload.iat === CLIENT_ASSERTION_LIFETIME_SECONDS // true
 */
export const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * A private key ready to sign assertions.
 *
 * @example
 * const { alg, kid } = await loadSigningKey(privateJwk); // 'ES256', thumbprint
 */
export interface SigningKey {
  key: CryptoKey | KeyObject | Uint8Array;
  alg: VendorKeyAlgorithm;
  /** The `kid` the vault looks up in the vendor's metadata; the JWK thumbprint by default. */
  kid?: string;
}

/**
 * Imports a vendor's private key and works out its algorithm and key id: `keyId`, else the
 * JWK's `kid`, else its RFC 7638 thumbprint (as {@link generateVendorKeyPair} sets it).
 *
 * @example
 * const signingKey = await loadSigningKey(JSON.parse(await readFile('vendor-key.json', 'utf8')));
 */
export async function loadSigningKey(
  privateKey: VendorPrivateKey,
  keyId?: string,
): Promise<SigningKey> {
  const alg = checkVendorPrivateKey(privateKey);
  if (isJwk(privateKey)) {
    const kid = keyId ?? privateKey.kid ?? (await calculateJwkThumbprint(privateKey));
    return { key: await importJWK(privateKey, alg), alg, kid };
  }
  const kid = keyId ?? (await thumbprintOf(privateKey));
  return { key: privateKey, alg, ...(kid === undefined ? {} : { kid }) };
}

/**
 * Checks, without importing it, that `privateKey` is a private key the SDK can sign assertions
 * with, and returns its algorithm; throws a `TypeError` saying what is wrong (never quoting the
 * key). `new VendorClient` runs it, so a public key or a stray JSON file is refused at once,
 * before any request.
 *
 * @example
 * checkVendorPrivateKey(JSON.parse(await readFile('vendor-key.json', 'utf8'))) // 'ES256'
 */
export function checkVendorPrivateKey(privateKey: unknown): VendorKeyAlgorithm {
  if (typeof privateKey !== 'object' || privateKey === null) {
    throw new TypeError('privateKey must be a private JWK, a CryptoKey or a KeyObject');
  }
  const key = privateKey as VendorPrivateKey;
  if (!isJwk(key)) return keyAlgorithm(key);
  if (typeof key.d !== 'string') {
    throw new TypeError('privateKey must be a private JWK (it has no "d" member)');
  }
  return jwkAlgorithm(key);
}

/**
 * Signs one client assertion for a request to the vault `audience`.
 *
 * @example
 * const assertion = await signClientAssertion(signingKey, {
 *   clientId: 'https://shop.example/webkey-vendor.json',
 *   audience: 'https://vault.example',
 *   now: new Date(),
 *   jti: randomId(systemRandom),
 * });
 */
export async function signClientAssertion(
  signingKey: SigningKey,
  claims: { clientId: string; audience: string; now: Date; jti: string },
): Promise<string> {
  const iat = Math.floor(claims.now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({
      alg: signingKey.alg,
      typ: CLIENT_ASSERTION_JWT_TYPE,
      ...(signingKey.kid === undefined ? {} : { kid: signingKey.kid }),
    })
    .setIssuer(claims.clientId)
    .setSubject(claims.clientId)
    .setAudience(claims.audience)
    .setJti(claims.jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + CLIENT_ASSERTION_LIFETIME_SECONDS)
    .sign(signingKey.key);
}

function isJwk(key: VendorPrivateKey): key is JWK {
  return typeof (key as { kty?: unknown }).kty === 'string';
}

function jwkAlgorithm(jwk: JWK): VendorKeyAlgorithm {
  const derived =
    jwk.kty === 'EC' && jwk.crv === 'P-256'
      ? 'ES256'
      : jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
        ? 'EdDSA'
        : undefined;
  if (derived === undefined) {
    throw new TypeError('privateKey must be an EC P-256 (ES256) or OKP Ed25519 (EdDSA) JWK');
  }
  if (
    jwk.alg !== undefined &&
    jwk.alg !== derived &&
    !(derived === 'EdDSA' && jwk.alg === 'Ed25519')
  ) {
    throw new TypeError(`privateKey's "alg" ${jwk.alg} does not match its key type (${derived})`);
  }
  return derived;
}

function keyAlgorithm(key: CryptoKey | KeyObject): VendorKeyAlgorithm {
  const crypto = key as {
    type?: string;
    algorithm?: { name?: string; namedCurve?: string };
    asymmetricKeyType?: string;
    asymmetricKeyDetails?: { namedCurve?: string };
  };
  if (crypto.type !== 'private') throw new TypeError('privateKey must be a private key');
  const name = crypto.algorithm?.name ?? crypto.asymmetricKeyType;
  const curve = crypto.algorithm?.namedCurve ?? crypto.asymmetricKeyDetails?.namedCurve;
  if ((name === 'ECDSA' || name === 'ec') && (curve === 'P-256' || curve === 'prime256v1')) {
    return 'ES256';
  }
  if (name === 'Ed25519' || name === 'ed25519') return 'EdDSA';
  throw new TypeError('privateKey must be an ECDSA P-256 (ES256) or Ed25519 (EdDSA) private key');
}

/** The thumbprint of an extractable key; undefined when the key cannot be exported. */
async function thumbprintOf(key: CryptoKey | KeyObject): Promise<string | undefined> {
  try {
    return await calculateJwkThumbprint(await exportJWK(key));
  } catch {
    return undefined;
  }
}
