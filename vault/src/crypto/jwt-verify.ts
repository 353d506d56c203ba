import { KeyObject, verify as verifySignature } from 'node:crypto';
import {
  errors,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyResult,
} from 'jose';

/** The algorithms the vault verifies: ES256 (its own keys and vendors'), EdDSA (vendors'). */
export type JwsAlgorithm = 'ES256' | 'EdDSA';

/** What a JWT must satisfy, with the names and meaning of jose's `jwtVerify` options. */
export interface JwtVerifyOptions {
  /** Allowed `alg` values: pinned, never taken from the token (RFC 8725 section 3.1). */
  algorithms: readonly JwsAlgorithm[];
  /** The required `typ` header (RFC 8725 section 3.11), compared as media types. */
  typ: string;
  issuer?: string;
  subject?: string;
  /** Accepted if `aud` is this string or an array containing it. */
  audience?: string;
  requiredClaims?: readonly string[];
  currentDate: Date;
  /** Seconds of clock difference tolerated for `exp` and `nbf`. */
  clockTolerance?: number;
}

/**
 * Verifies a compact JWS JWT like jose's `jwtVerify` (same checks, same error classes, so
 * callers and their tests treat both alike), but checks the signature with node:crypto on
 * libuv's thread pool. Redemption verifies a client assertion on every request; WebCrypto's
 * verify, which jose uses, costs several times more of the event loop's time.
 *
 * The key comes from `getKey`, typically jose's `createLocalJWKSet`, which keeps its rules for
 * choosing among a key set's keys (kid, kty, crv, use, alg) and its errors.
 *
 * @example
 * const { payload } = await verifyJwt(jwt, createLocalJWKSet(jwks), {
 *   algorithms: ['ES256'], typ: 'webkey+jwt', issuer, currentDate: new Date(),
 * });
 */
export async function verifyJwt(
  jwt: string,
  getKey: JWTVerifyGetKey,
  options: JwtVerifyOptions,
): Promise<JWTVerifyResult> {
  if (typeof jwt !== 'string') throw new errors.JWSInvalid('Compact JWS must be a string');
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new errors.JWSInvalid('Invalid Compact JWS');
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  // The signing input must be the token's text byte for byte: ASCII only (RFC 7515 section 7.1).
  if (Buffer.byteLength(encodedPayload, 'utf8') !== encodedPayload.length)
    throw new errors.JWSInvalid('JWS Compact Serialization payload must use only ASCII characters');
  const header = parseJsonObject(
    decodeBase64url(encodedHeader, 'protected header'),
    errors.JWSInvalid,
    'JWS Protected Header',
  );
  // No extensions are understood here, and an unencoded payload (RFC 7797) is no JWT.
  if (header.crit !== undefined)
    throw new errors.JOSENotSupported('"crit" header parameter is not supported');
  if (header.b64 !== undefined && header.b64 !== true)
    throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload');
  const alg = header.alg;
  if (typeof alg !== 'string')
    throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (!options.algorithms.includes(alg as JwsAlgorithm))
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  const protectedHeader = header as unknown as JWTHeaderParameters;
  const key = await getKey(protectedHeader, {
    payload: encodedPayload,
    signature: encodedSignature,
  });
  const signature = decodeBase64url(encodedSignature, 'signature');
  const signed = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
  if (
    !(await signatureMatches(
      alg as JwsAlgorithm,
      toKeyObject(key, alg as JwsAlgorithm),
      signed,
      signature,
    ))
  )
    throw new errors.JWSSignatureVerificationFailed();
  const payload = parseJsonObject(
    decodeBase64url(encodedPayload, 'payload'),
    errors.JWTInvalid,
    'JWT Claims Set',
  );
  validateClaims(protectedHeader, payload as JWTPayload, options);
  return { payload: payload as JWTPayload, protectedHeader };
}

type ErrorClass = new (message: string) => Error;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
// fatal: invalid UTF-8 is refused, not replaced; ignoreBOM: a BOM is kept, so JSON refuses it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Base64url without padding (RFC 7515 section 2); a length of 4n+1 encodes no bytes. */
function decodeBase64url(text: string, what: string): Buffer {
  if (!BASE64URL.test(text) || text.length % 4 === 1)
    throw new errors.JWSInvalid(`Failed to base64url decode the ${what}`);
  return Buffer.from(text, 'base64url');
}

/** UTF-8 that must be valid (RFC 7519 section 7.2), holding one JSON object. */
function parseJsonObject(bytes: Buffer, error: ErrorClass, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw new error(`${what} must be a top-level JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new error(`${what} must be a top-level JSON object`);
  return value as Record<string, unknown>;
}

const keyObjects = new WeakMap<object, KeyObject>();

/** The WebCrypto algorithm a CryptoKey must have been imported for, by JWS `alg`. */
const CRYPTO_KEY_ALGORITHM: Record<JwsAlgorithm, string> = { ES256: 'ECDSA', EdDSA: 'Ed25519' };

function toKeyObject(key: unknown, alg: JwsAlgorithm): KeyObject {
  if (key instanceof KeyObject) return key;
  if (!(key instanceof CryptoKey))
    throw new TypeError('verifyJwt needs a CryptoKey or KeyObject public key');
  // A CryptoKey is bound to an algorithm and usages; KeyObject.from would drop both.
  if (key.algorithm.name !== CRYPTO_KEY_ALGORITHM[alg] || !key.usages.includes('verify'))
    throw new TypeError(`CryptoKey is not a ${CRYPTO_KEY_ALGORITHM[alg]} verification key`);
  let keyObject = keyObjects.get(key);
  if (!keyObject) {
    keyObject = KeyObject.from(key);
    keyObjects.set(key, keyObject);
  }
  return keyObject;
}

/** The signature check itself, with the key's type bound to the algorithm (RFC 8725 3.1). */
function signatureMatches(
  alg: JwsAlgorithm,
  key: KeyObject,
  data: Buffer,
  signature: Buffer,
): Promise<boolean> {
  if (key.type !== 'public') throw new TypeError('verifyJwt needs a public key');
  if (alg === 'ES256') {
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new TypeError('ES256 needs a P-256 key');
    // JWS carries r||s (IEEE P1363), 64 bytes for P-256 (RFC 7518 section 3.4).
    if (signature.length !== 64) return Promise.resolve(false);
    return verifyOffThread('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('EdDSA needs an Ed25519 key');
  return verifyOffThread(null, data, key, signature);
}

function verifyOffThread(
  hash: string | null,
  data: Buffer,
  key: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' },
  signature: Buffer,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    verifySignature(hash, data, key, signature, (error, valid) =>
      error ? reject(error) : resolve(valid),
    );
  });
}

/** `typ` values compare as media types: case-insensitive, "application/" implied (RFC 7515 4.1.9). */
function mediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

function claimFailed(payload: JWTPayload, claim: string, message: string): never {
  throw new errors.JWTClaimValidationFailed(message, payload, claim, 'check_failed');
}

function numericDate(payload: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new errors.JWTClaimValidationFailed(
      `"${claim}" claim must be a number`,
      payload,
      claim,
      'invalid',
    );
  return value;
}

/** jose's claim checks (validateClaimsSet), for the options the vault uses. */
function validateClaims(
  header: JWTHeaderParameters,
  payload: JWTPayload,
  options: JwtVerifyOptions,
): void {
  if (typeof header.typ !== 'string' || mediaType(header.typ) !== mediaType(options.typ))
    claimFailed(payload, 'typ', 'unexpected "typ" JWT header value');
  // In jose's order: iss, sub, aud, then the required claims from last to first.
  const required = new Set([
    ...(options.issuer !== undefined ? ['iss'] : []),
    ...(options.subject !== undefined ? ['sub'] : []),
    ...(options.audience !== undefined ? ['aud'] : []),
    ...[...(options.requiredClaims ?? [])].reverse(),
  ]);
  for (const claim of required) {
    if (!Object.hasOwn(payload, claim))
      throw new errors.JWTClaimValidationFailed(
        `missing required "${claim}" claim`,
        payload,
        claim,
        'missing',
      );
  }
  if (options.issuer !== undefined && payload.iss !== options.issuer)
    claimFailed(payload, 'iss', 'unexpected "iss" claim value');
  if (options.subject !== undefined && payload.sub !== options.subject)
    claimFailed(payload, 'sub', 'unexpected "sub" claim value');
  if (options.audience !== undefined) {
    const aud = payload.aud;
    const matches = Array.isArray(aud) ? aud.includes(options.audience) : aud === options.audience;
    if (!matches) claimFailed(payload, 'aud', 'unexpected "aud" claim value');
  }
  const now = Math.floor(options.currentDate.getTime() / 1000);
  const tolerance = options.clockTolerance ?? 0;
  numericDate(payload, 'iat');
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance)
    claimFailed(payload, 'nbf', '"nbf" claim timestamp check failed');
  const exp = numericDate(payload, 'exp');
  if (exp !== undefined && exp <= now - tolerance)
    throw new errors.JWTExpired(
      '"exp" claim timestamp check failed',
      payload,
      'exp',
      'check_failed',
    );
}
