import { generateKeyPairSync } from 'node:crypto';
import { CLIENT_ASSERTION_JWT_TYPE } from '@webkey/protocol';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import { describe, expect, it } from 'vitest';
import { loadSigningKey, signClientAssertion } from './client-assertion.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';

const claims = {
  clientId: 'https://shop.example/vendor.json',
  audience: 'https://vault.example',
  now: new Date('2026-05-01T12:00:00Z'),
  jti: 'jti-0123456789abcdef',
};

describe('client assertions', () => {
  it('carries the RFC 7523 claims, a 60 s lifetime and the explicit type', async () => {
    const { privateJwk, publicJwk } = await generateVendorKeyPair();
    const assertion = await signClientAssertion(await loadSigningKey(privateJwk), claims);
    const { payload, protectedHeader } = await jwtVerify(assertion, await importPublic(publicJwk), {
      currentDate: claims.now,
      typ: CLIENT_ASSERTION_JWT_TYPE,
    });
    expect(protectedHeader).toEqual({
      alg: 'ES256',
      typ: CLIENT_ASSERTION_JWT_TYPE,
      kid: publicJwk.kid,
    });
    expect(payload).toEqual({
      iss: claims.clientId,
      sub: claims.clientId,
      aud: claims.audience,
      jti: claims.jti,
      iat: 1777636800,
      exp: 1777636860,
    });
  });

  it('accepts a CryptoKey and names it by thumbprint when extractable', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const signingKey = await loadSigningKey(privateKey);
    expect(signingKey.alg).toBe('ES256');
    expect(signingKey.kid).toBe(await calculateJwkThumbprint(await exportJWK(publicKey)));
    const assertion = await signClientAssertion(signingKey, claims);
    await expect(
      jwtVerify(assertion, publicKey, { currentDate: claims.now }),
    ).resolves.toBeDefined();
  });

  it('accepts a non-extractable CryptoKey with an explicit keyId', async () => {
    const { privateKey } = await generateKeyPair('Ed25519');
    const signingKey = await loadSigningKey(privateKey, 'vendor-key-2026');
    expect(signingKey).toMatchObject({ alg: 'EdDSA', kid: 'vendor-key-2026' });
    const assertion = await signClientAssertion(signingKey, claims);
    expect(decodeProtectedHeader(assertion)).toMatchObject({
      alg: 'EdDSA',
      kid: 'vendor-key-2026',
    });
  });

  it('accepts a Node KeyObject', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signingKey = await loadSigningKey(privateKey);
    expect(signingKey.alg).toBe('ES256');
    expect(decodeJwt(await signClientAssertion(signingKey, claims)).iss).toBe(claims.clientId);
  });

  it('refuses public keys and unsupported algorithms', async () => {
    const { publicJwk } = await generateVendorKeyPair();
    await expect(loadSigningKey(publicJwk)).rejects.toThrow(/private JWK/);
    const rsa = await generateKeyPair('RS256', { extractable: true });
    await expect(loadSigningKey(await exportJWK(rsa.privateKey))).rejects.toThrow(/P-256/);
    await expect(loadSigningKey(rsa.privateKey)).rejects.toThrow(/P-256/);
    const { privateJwk } = await generateVendorKeyPair();
    await expect(loadSigningKey({ ...privateJwk, alg: 'ES384' })).rejects.toThrow(/does not match/);
  });
});

async function importPublic(jwk: object) {
  const { importJWK } = await import('jose');
  return importJWK(jwk, 'ES256');
}
