/**
 * verifyJwt against jose's jwtVerify, with real keys and real signatures.
 *
 * The differential table runs every token through both verifiers with the same key set
 * (createLocalJWKSet) and the same options, and requires the same verdict: both accept with the
 * same payload and protected header, or both reject with the same error (class, code and, for
 * claim errors, claim, reason and payload). Each case also pins what jose does, so a case cannot
 * silently stop testing what its name says. Where verifyJwt is deliberately stricter than jose,
 * the case is in a separate table that pins both verdicts.
 */
import {
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  sign as signBytes,
  verify as verifyBytes,
} from 'node:crypto';
import {
  CompactSign,
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import { describe, expect, it } from 'vitest';
import { type JwtVerifyOptions, verifyJwt } from './jwt-verify.ts';

// --- Keys ---------------------------------------------------------------------------------------

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const es = p256();
const es2 = p256();
const esAttacker = p256();
const es384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');
const edAttacker = generateKeyPairSync('ed25519');

const exportJwk = (key: KeyObject): JWK => key.export({ format: 'jwk' }) as JWK;
const jwkOf = (key: KeyObject, kid?: string): JWK => ({
  ...exportJwk(key),
  ...(kid === undefined ? {} : { kid }),
  use: 'sig',
});

/** The verifier's key set: one key per type, none with an "alg", so selection is by kty/crv/kid. */
const KEYS: JSONWebKeySet = {
  keys: [
    jwkOf(es.publicKey, 'es-1'),
    jwkOf(ed.publicKey, 'ed-1'),
    jwkOf(es384.publicKey, 'p384-1'),
  ],
};

/** A WebCrypto public key with the given algorithm binding and usages. */
const cryptoKey = (
  key: KeyObject,
  algorithm: AlgorithmIdentifier | EcKeyImportParams,
  usages: KeyUsage[],
) => crypto.subtle.importKey('jwk', exportJwk(key) as JsonWebKey, algorithm, true, usages);

// --- Claims, headers, tokens --------------------------------------------------------------------

/** Fractional on purpose: both verifiers floor currentDate to whole seconds. */
const NOW = new Date('2030-01-01T00:00:00.600Z');
const now = Math.floor(NOW.getTime() / 1000);
const TOLERANCE = 30;
const ISSUER = 'https://vendor.example';
const SUBJECT = 'ven_acme';
const AUDIENCE = 'https://vault.example';
const TYP = 'webkey-test+jwt';

const OPTIONS: JwtVerifyOptions = {
  algorithms: ['ES256', 'EdDSA'],
  typ: TYP,
  issuer: ISSUER,
  subject: SUBJECT,
  audience: AUDIENCE,
  requiredClaims: ['jti'],
  currentDate: NOW,
  clockTolerance: TOLERANCE,
};

type Json = Record<string, unknown>;

/** A valid claims set; an override set to undefined removes the claim (JSON.stringify drops it). */
const claims = (overrides: Json = {}): Json => ({
  iss: ISSUER,
  sub: SUBJECT,
  aud: AUDIENCE,
  jti: 'jti-1',
  iat: now - 10,
  exp: now + 300,
  ...overrides,
});

const ES_HEADER = { alg: 'ES256', kid: 'es-1', typ: TYP };
const ED_HEADER = { alg: 'EdDSA', kid: 'ed-1', typ: TYP };

/** A JWT from jose's SignJWT. */
const signJwt = (header: Json, payload: Json, key: KeyObject | Uint8Array) =>
  new SignJWT(payload as JWTPayload).setProtectedHeader(header as JWTHeaderParameters).sign(key);

const es256 = (payload = claims(), header: Json = {}) =>
  signJwt({ ...ES_HEADER, ...header }, payload, es.privateKey);
const eddsa = (payload = claims(), header: Json = {}) =>
  signJwt({ ...ED_HEADER, ...header }, payload, ed.privateKey);

/** A compact JWS of arbitrary payload bytes, from jose's CompactSign. */
const compactSign = (payload: string, header: Json = ES_HEADER, key = es.privateKey) =>
  new CompactSign(Buffer.from(payload)).setProtectedHeader(header as JWTHeaderParameters).sign(key);

const b64u = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
const segment = (value: unknown) => b64u(JSON.stringify(value));

function signature(data: Uint8Array, key: KeyObject): Buffer {
  return key.asymmetricKeyType === 'ed25519'
    ? signBytes(null, data, key)
    : signBytes('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

/**
 * Signs exactly `header.payload` as given, however malformed the segments: these are tokens a
 * key holder (a vendor) could send, with a valid signature over the JWS Signing Input
 * (RFC 7515 §5.1 step 8).
 */
const signSegments = (header: string, payload: string, key = es.privateKey) =>
  `${header}.${payload}.${b64u(signature(Buffer.from(`${header}.${payload}`), key))}`;

const split = (token: string) => token.split('.') as [string, string, string];

/** The token with its signature bytes replaced. */
async function resign(token: Promise<string>, change: (signature: Buffer) => Buffer) {
  const [header, payload, sig] = split(await token);
  return `${header}.${payload}.${b64u(change(Buffer.from(sig, 'base64url')))}`;
}

/** The token with one segment's text replaced (the signature left as it was). */
async function edit(token: Promise<string>, index: 0 | 1 | 2, change: (text: string) => string) {
  const parts = split(await token);
  parts[index] = change(parts[index]);
  return parts.join('.');
}

/** `value`'s JSON as bytes, with the one byte `byte` in place of `marker`. */
function jsonWithByte(value: unknown, marker: string, byte: number): Buffer {
  const [before, after] = JSON.stringify(value).split(marker) as [string, string];
  return Buffer.concat([Buffer.from(before), Buffer.from([byte]), Buffer.from(after)]);
}

/** `value`'s JSON, space-padded (still valid JSON) until its base64url length fits `accept`. */
function fitted(value: unknown, encode: (text: string) => string, accept: (s: string) => boolean) {
  for (let text = JSON.stringify(value); text.length < 1000; text += ' ') {
    const encoded = encode(text);
    if (accept(encoded)) return encoded;
  }
  throw new Error('no fitting encoding');
}

/** base64url plus one dangling character: length ≡ 1 (mod 4) is no base64 (RFC 4648 §4). */
const danglingSegment = (value: unknown) => `${fitted(value, b64u, (s) => s.length % 4 === 0)}A`;
/** base64url with "=" padding, which RFC 7515 §2 omits. */
const paddedSegment = (value: unknown) => `${fitted(value, b64u, (s) => s.length % 4 === 2)}==`;
/** Standard base64 with "+" or "/" in it, the alphabet RFC 7515 §2 does not use. */
const standardBase64Segment = (value: unknown) =>
  fitted(
    value,
    (text) => Buffer.from(text).toString('base64'),
    (s) => /[+/]/.test(s) && !s.includes('='),
  );

/** The order of the P-256 group: (r, n − s) is as valid as (r, s). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
function flipS(sig: Buffer): Buffer {
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
  return Buffer.concat([
    sig.subarray(0, 32),
    Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'),
  ]);
}

/** The same r||s signature as an ASN.1 DER ECDSA-Sig-Value, which JWS does not use. */
function toDer(raw: Buffer): Buffer {
  const integer = (bytes: Buffer) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let value = bytes.subarray(start);
    if ((value[0] ?? 0) & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, 32)), integer(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** A token whose signing input is checked to verify with the DER form, so the case is real. */
async function derSigned(): Promise<string> {
  const [header, payload, sig] = split(await es256());
  const der = toDer(Buffer.from(sig, 'base64url'));
  const input = Buffer.from(`${header}.${payload}`);
  if (!verifyBytes('sha256', input, { key: es.publicKey, dsaEncoding: 'der' }, der))
    throw new Error('DER conversion is broken');
  return `${header}.${payload}.${b64u(der)}`;
}

/** A signed token whose claims set carries a number JSON.stringify cannot write (1e400 = ∞). */
const withNumber = (claim: string, literal: string) =>
  signSegments(
    segment(ES_HEADER),
    b64u(JSON.stringify(claims({ [claim]: '#' })).replace('"#"', literal)),
  );

// --- Running both verifiers ---------------------------------------------------------------------

type Outcome =
  | { accepted: { payload: unknown; protectedHeader: unknown } }
  | { rejected: string; code?: unknown; claim?: unknown; reason?: unknown; payload?: unknown };

async function outcome(
  verification: Promise<{ payload: unknown; protectedHeader: unknown }>,
): Promise<Outcome> {
  try {
    const { payload, protectedHeader } = await verification;
    return { accepted: { payload, protectedHeader } };
  } catch (error) {
    const e = error as Error & Json;
    return {
      rejected: e.constructor.name,
      code: e.code,
      ...('claim' in e ? { claim: e.claim, reason: e.reason, payload: e.payload } : {}),
    };
  }
}

/** "accepted", the error's class, or `Class(claim/reason)` for claim errors. */
function summary(result: Outcome): string {
  if ('accepted' in result) return 'accepted';
  return result.claim === undefined
    ? result.rejected
    : `${result.rejected}(${String(result.claim)}/${String(result.reason)})`;
}

interface Case {
  name: string;
  token: () => Promise<string> | string;
  /** What jose's jwtVerify does with it (see summary). */
  jose: string;
  /** The key set, if not KEYS. */
  keys?: JSONWebKeySet;
  /** A getKey other than createLocalJWKSet(keys). */
  getKey?: JWTVerifyGetKey;
  options?: Partial<JwtVerifyOptions>;
}

async function runBoth(c: Case): Promise<{ ours: Outcome; jose: Outcome }> {
  const token = await c.token();
  const getKey = c.getKey ?? createLocalJWKSet(c.keys ?? KEYS);
  const options = { ...OPTIONS, ...c.options };
  const ours = await outcome(verifyJwt(token, getKey, options));
  const jose = await outcome(
    jwtVerify(token, getKey, {
      ...options,
      algorithms: [...options.algorithms],
      requiredClaims: options.requiredClaims && [...options.requiredClaims],
    }),
  );
  return { ours, jose };
}

const claimFailed = (claim: string, reason = 'check_failed') =>
  `JWTClaimValidationFailed(${claim}/${reason})`;
const EXPIRED = 'JWTExpired(exp/check_failed)';

// --- The differential table ---------------------------------------------------------------------

const cases: Case[] = [
  // Valid tokens, and the legitimate variations both must accept.
  { name: 'valid ES256 (RFC 7518 §3.4), aud a string', token: () => es256(), jose: 'accepted' },
  { name: 'valid EdDSA, Ed25519 (RFC 8037 §3.1)', token: () => eddsa(), jose: 'accepted' },
  {
    name: 'ES256 with s replaced by n − s: ECDSA is malleable, RFC 7518 §3.4 has no low-S rule',
    token: () => resign(es256(), flipS),
    jose: 'accepted',
  },
  {
    // 86 characters carry 64 bytes plus 4 unused bits; both decoders ignore those bits
    // (RFC 4648 §3.5 lets decoders reject them). The token string is malleable, the bytes are not.
    name: 'ES256 signature with non-zero pad bits in its last character',
    token: () =>
      edit(es256(), 2, (sig) => {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(sig.at(-1)!);
        return sig.slice(0, -1) + alphabet[(last & ~0xf) | (~last & 0xf)];
      }),
    jose: 'accepted',
  },
  {
    name: 'typ with "application/" prefix and other case (RFC 7515 §4.1.9)',
    token: () => es256(claims(), { typ: 'application/WEBKEY-Test+JWT' }),
    jose: 'accepted',
  },
  {
    name: 'typ in upper case without prefix',
    token: () => es256(claims(), { typ: TYP.toUpperCase() }),
    jose: 'accepted',
  },
  {
    name: 'aud an array containing the audience (RFC 7519 §4.1.3)',
    token: () => es256(claims({ aud: ['https://other.example', 7, AUDIENCE] })),
    jose: 'accepted',
  },
  {
    name: 'no kid, one key of the type in the set',
    token: () => es256(claims(), { kid: undefined }),
    jose: 'accepted',
  },
  {
    name: 'no kid, the only key in the set',
    token: () => eddsa(claims(), { kid: undefined }),
    keys: { keys: [jwkOf(ed.publicKey)] },
    jose: 'accepted',
  },
  {
    name: 'unknown header parameters are ignored (RFC 7515 §4)',
    token: () => es256(claims(), { 'x-vendor': { nested: [1, 2] }, cty: 'whatever' }),
    jose: 'accepted',
  },
  {
    name: 'duplicate header name: both take the last "alg" (RFC 7515 §4)',
    token: () =>
      signSegments(
        b64u(`{"alg":"none","alg":"ES256","kid":"es-1","typ":"${TYP}"}`),
        segment(claims()),
      ),
    jose: 'accepted',
  },
  {
    name: 'b64: true without crit is the default encoding (RFC 7797 §3)',
    token: () => signSegments(segment({ ...ES_HEADER, b64: true }), segment(claims())),
    jose: 'accepted',
  },
  {
    name: 'a KeyObject from getKey',
    token: () => es256(),
    getKey: async () => es.publicKey,
    jose: 'accepted',
  },
  {
    name: 'iat in the future is not checked without maxTokenAge (RFC 7519 §4.1.6)',
    token: () => es256(claims({ iat: now + 3600 })),
    jose: 'accepted',
  },
  {
    name: 'claims hidden under "__proto__" do not count as present',
    token: () =>
      signSegments(
        segment(ES_HEADER),
        b64u(`{"__proto__":{"iss":"${ISSUER}"},"sub":"${SUBJECT}","aud":"${AUDIENCE}","jti":"j"}`),
      ),
    jose: claimFailed('iss', 'missing'),
  },

  // alg: pinned by the verifier, never taken from the token (RFC 8725 §3.1, RFC 7515 §4.1.1).
  {
    name: 'alg none, unsigned (RFC 7518 §3.6, RFC 8725 §3.1)',
    token: () => `${segment({ alg: 'none', typ: TYP })}.${segment(claims())}.`,
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'alg "None", unsigned',
    token: () => `${segment({ alg: 'None', kid: 'es-1', typ: TYP })}.${segment(claims())}.`,
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'HS256 keyed with the public JWK (RFC 8725 §2.1 key confusion)',
    token: () =>
      signJwt({ ...ES_HEADER, alg: 'HS256' }, claims(), Buffer.from(JSON.stringify(KEYS.keys[0]))),
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'HS256 keyed with the public key PEM',
    token: () =>
      signJwt(
        { ...ES_HEADER, alg: 'HS256' },
        claims(),
        Buffer.from(es.publicKey.export({ type: 'spki', format: 'pem' })),
      ),
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'HS256 keyed with the public key SPKI DER',
    token: () =>
      signJwt(
        { ...ES_HEADER, alg: 'HS256' },
        claims(),
        es.publicKey.export({ type: 'spki', format: 'der' }),
      ),
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'ES384 with a P-384 key in the set, only ES256 allowed',
    token: () => signJwt({ alg: 'ES384', kid: 'p384-1', typ: TYP }, claims(), es384.privateKey),
    options: { algorithms: ['ES256'] },
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'EdDSA when only ES256 is allowed',
    token: () => eddsa(),
    options: { algorithms: ['ES256'] },
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'alg "Ed25519" (fully specified, RFC 9864) is not "EdDSA"',
    token: () => signJwt({ ...ED_HEADER, alg: 'Ed25519' }, claims(), ed.privateKey),
    jose: 'JOSEAlgNotAllowed',
  },
  {
    name: 'alg "es256" (alg is case-sensitive, RFC 7515 §4.1.1)',
    token: () => signSegments(segment({ ...ES_HEADER, alg: 'es256' }), segment(claims())),
    jose: 'JOSEAlgNotAllowed',
  },
  // jose: a missing or non-string alg is a malformed JWS (JWSInvalid), before the allow-list.
  {
    name: 'alg missing (RFC 7515 §4.1.1: MUST be present)',
    token: () => signSegments(segment({ kid: 'es-1', typ: TYP }), segment(claims())),
    jose: 'JWSInvalid',
  },
  {
    name: 'alg not a string',
    token: () => signSegments(segment({ ...ES_HEADER, alg: ['ES256'] }), segment(claims())),
    jose: 'JWSInvalid',
  },

  // The key's type bound to alg (RFC 8725 §3.1): by the key set's selection, then the key itself.
  {
    name: 'EdDSA header with the kid of the EC key',
    token: () => eddsa(claims(), { kid: 'es-1' }),
    jose: 'JWKSNoMatchingKey',
  },
  {
    name: 'ES256 header with the kid of the Ed25519 key',
    token: () => es256(claims(), { kid: 'ed-1' }),
    jose: 'JWKSNoMatchingKey',
  },
  {
    name: 'EdDSA token, only an EC key in the set',
    token: () => eddsa(claims(), { kid: undefined }),
    keys: { keys: [jwkOf(es.publicKey)] },
    jose: 'JWKSNoMatchingKey',
  },
  {
    name: 'ES256 token, only an Ed25519 key in the set',
    token: () => es256(claims(), { kid: undefined }),
    keys: { keys: [jwkOf(ed.publicKey)] },
    jose: 'JWKSNoMatchingKey',
  },
  {
    name: 'ES256 header with the kid of the P-384 key',
    token: () => es256(claims(), { kid: 'p384-1' }),
    jose: 'JWKSNoMatchingKey',
  },
  {
    name: 'getKey returns an Ed25519 key for ES256',
    token: () => es256(),
    getKey: () => cryptoKey(ed.publicKey, 'Ed25519', ['verify']),
    jose: 'TypeError',
  },
  {
    name: 'getKey returns a P-256 key for EdDSA',
    token: () => eddsa(),
    getKey: () => cryptoKey(es.publicKey, { name: 'ECDSA', namedCurve: 'P-256' }, ['verify']),
    jose: 'TypeError',
  },
  {
    name: 'getKey returns a P-384 key for ES256',
    token: () => es256(),
    getKey: () => cryptoKey(es384.publicKey, { name: 'ECDSA', namedCurve: 'P-384' }, ['verify']),
    jose: 'TypeError',
  },
  {
    // WebCrypto binds a key to an algorithm and usages; jose honours that, a key imported for
    // key agreement must not verify signatures (RFC 8725 §3.1).
    name: 'getKey returns the signer’s P-256 key imported for ECDH',
    token: () => es256(),
    getKey: () => cryptoKey(es.publicKey, { name: 'ECDH', namedCurve: 'P-256' }, []),
    jose: 'TypeError',
  },
  {
    name: 'getKey returns the signer’s ECDSA key without the "verify" usage',
    token: () => es256(),
    getKey: () => cryptoKey(es.publicKey, { name: 'ECDSA', namedCurve: 'P-256' }, []),
    jose: 'TypeError',
  },

  // Signatures (RFC 7515 §5.2 step 8, RFC 7518 §3.4: R||S, 64 octets for P-256).
  {
    name: 'tampered payload',
    token: async () => {
      const [header, , sig] = split(await es256());
      return `${header}.${segment(claims({ sub: 'ven_evil' }))}.${sig}`;
    },
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'tampered header (typ changed)',
    token: async () => {
      const [, payload, sig] = split(await es256(claims(), { typ: 'other+jwt' }));
      return `${segment(ES_HEADER)}.${payload}.${sig}`;
    },
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'tampered header (ES256 signature relabelled EdDSA)',
    token: async () => {
      const [, payload, sig] = split(await es256());
      return `${segment(ED_HEADER)}.${payload}.${sig}`;
    },
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'signed by another P-256 key, under the kid of ours',
    token: () => signJwt(ES_HEADER, claims(), esAttacker.privateKey),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'signed by another key embedded as "jwk" (RFC 7515 §4.1.3, RFC 8725 §3.10)',
    token: () =>
      signJwt(
        { ...ES_HEADER, jwk: exportJwk(esAttacker.publicKey) },
        claims(),
        esAttacker.privateKey,
      ),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'EdDSA signed by another Ed25519 key',
    token: () => signJwt(ED_HEADER, claims(), edAttacker.privateKey),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'ES256 signature truncated by a byte',
    token: () => resign(es256(), (sig) => sig.subarray(0, -1)),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'ES256 signature extended by a byte',
    token: () => resign(es256(), (sig) => Buffer.concat([sig, Buffer.from([0])])),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'ES256 signature DER-encoded instead of R||S (RFC 7518 §3.4)',
    token: derSigned,
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'ES256 signature r = s = 0',
    token: () => resign(es256(), () => Buffer.alloc(64)),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'ES256 signature r, s ≥ n',
    token: () => resign(es256(), () => Buffer.alloc(64, 0xff)),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'EdDSA signature truncated by a byte',
    token: () => resign(eddsa(), (sig) => sig.subarray(0, -1)),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'EdDSA signature extended by a byte',
    token: () => resign(eddsa(), (sig) => Buffer.concat([sig, Buffer.from([0])])),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'empty signature',
    token: () => edit(es256(), 2, () => ''),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'invalid signature over a payload that is no JSON',
    token: async () => {
      const [header, , sig] = split(await es256());
      return `${header}.${b64u('not json')}.${sig}`;
    },
    jose: 'JWSSignatureVerificationFailed',
  },

  // typ (RFC 8725 §3.11 explicit typing, RFC 7515 §4.1.9).
  {
    name: 'wrong typ',
    token: () => es256(claims(), { typ: 'other+jwt' }),
    jose: claimFailed('typ'),
  },
  { name: 'typ "JWT"', token: () => es256(claims(), { typ: 'JWT' }), jose: claimFailed('typ') },
  {
    name: 'missing typ',
    token: () => es256(claims(), { typ: undefined }),
    jose: claimFailed('typ'),
  },
  { name: 'typ not a string', token: () => es256(claims(), { typ: 1 }), jose: claimFailed('typ') },
  {
    name: 'typ with a media type parameter',
    token: () => es256(claims(), { typ: `application/${TYP}; charset=utf-8` }),
    jose: claimFailed('typ'),
  },

  // iss, sub, aud, jti (RFC 7519 §4.1.1–4.1.3, §4.1.7).
  {
    name: 'wrong iss',
    token: () => es256(claims({ iss: 'https://evil.example' })),
    jose: claimFailed('iss'),
  },
  {
    name: 'missing iss',
    token: () => es256(claims({ iss: undefined })),
    jose: claimFailed('iss', 'missing'),
  },
  { name: 'iss null', token: () => es256(claims({ iss: null })), jose: claimFailed('iss') },
  {
    name: 'iss an array holding the issuer',
    token: () => es256(claims({ iss: [ISSUER] })),
    jose: claimFailed('iss'),
  },
  { name: 'wrong sub', token: () => es256(claims({ sub: 'ven_evil' })), jose: claimFailed('sub') },
  {
    name: 'missing sub',
    token: () => es256(claims({ sub: undefined })),
    jose: claimFailed('sub', 'missing'),
  },
  {
    name: 'aud an array without the audience',
    token: () => es256(claims({ aud: ['https://other.example'] })),
    jose: claimFailed('aud'),
  },
  {
    name: 'aud a different string',
    token: () => es256(claims({ aud: 'https://vault.example/' })),
    jose: claimFailed('aud'),
  },
  {
    name: 'missing aud',
    token: () => es256(claims({ aud: undefined })),
    jose: claimFailed('aud', 'missing'),
  },
  {
    name: 'missing required jti',
    token: () => es256(claims({ jti: undefined })),
    jose: claimFailed('jti', 'missing'),
  },
  {
    name: 'missing required exp (the vendor assertion requires jti, exp, iat)',
    token: () => es256(claims({ exp: undefined })),
    options: { requiredClaims: ['jti', 'exp', 'iat'] },
    jose: claimFailed('exp', 'missing'),
  },
  {
    // Which claim is reported when several are missing: jose reports iss, sub, aud first.
    name: 'missing both iss and jti',
    token: () => es256(claims({ iss: undefined, jti: undefined })),
    jose: claimFailed('iss', 'missing'),
  },

  // exp, nbf, iat (RFC 7519 §4.1.4–4.1.6, NumericDate §2); tolerance 30 s unless set.
  { name: 'expired', token: () => es256(claims({ exp: now - 3600 })), jose: EXPIRED },
  {
    name: 'exp exactly now, no tolerance ("on or after" is expired)',
    token: () => es256(claims({ exp: now })),
    options: { clockTolerance: 0 },
    jose: EXPIRED,
  },
  {
    name: 'exp one second ahead of the floored clock, no tolerance',
    token: () => es256(claims({ exp: now + 1 })),
    options: { clockTolerance: 0 },
    jose: 'accepted',
  },
  {
    name: 'exp exactly now, within tolerance',
    token: () => es256(claims({ exp: now })),
    jose: 'accepted',
  },
  {
    name: 'exp past, within tolerance',
    token: () => es256(claims({ exp: now - TOLERANCE + 1 })),
    jose: 'accepted',
  },
  {
    name: 'exp exactly at the tolerance edge',
    token: () => es256(claims({ exp: now - TOLERANCE })),
    jose: EXPIRED,
  },
  {
    name: 'nbf in the future, beyond tolerance',
    token: () => es256(claims({ nbf: now + TOLERANCE + 1 })),
    jose: claimFailed('nbf'),
  },
  {
    name: 'nbf in the future, within tolerance',
    token: () => es256(claims({ nbf: now + TOLERANCE })),
    jose: 'accepted',
  },
  {
    name: 'nbf one second ahead, no tolerance',
    token: () => es256(claims({ nbf: now + 1 })),
    options: { clockTolerance: 0 },
    jose: claimFailed('nbf'),
  },
  {
    name: 'iat a string',
    token: () => es256(claims({ iat: String(now) })),
    jose: claimFailed('iat', 'invalid'),
  },
  {
    name: 'exp a string',
    token: () => es256(claims({ exp: String(now + 300) })),
    jose: claimFailed('exp', 'invalid'),
  },
  {
    name: 'nbf a string',
    token: () => es256(claims({ nbf: String(now) })),
    jose: claimFailed('nbf', 'invalid'),
  },
  {
    name: 'exp null',
    token: () => es256(claims({ exp: null })),
    jose: claimFailed('exp', 'invalid'),
  },
  {
    name: 'iat a string and expired: iat is checked first',
    token: () => es256(claims({ iat: 'x', exp: now - 3600 })),
    jose: claimFailed('iat', 'invalid'),
  },

  // The claims set must be a JSON object (RFC 7519 §7.2 step 10).
  { name: 'payload a JSON array', token: () => compactSign('[1,2]'), jose: 'JWTInvalid' },
  { name: 'payload a JSON number', token: () => compactSign('42'), jose: 'JWTInvalid' },
  { name: 'payload JSON null', token: () => compactSign('null'), jose: 'JWTInvalid' },
  { name: 'payload a JSON string', token: () => compactSign('"claims"'), jose: 'JWTInvalid' },
  { name: 'payload not JSON', token: () => compactSign('{"iss":'), jose: 'JWTInvalid' },
  { name: 'payload empty', token: () => compactSign(''), jose: 'JWTInvalid' },

  // The header must be a JSON object (RFC 7515 §5.2 steps 2–4).
  {
    name: 'header not JSON',
    token: () => signSegments(b64u('{"alg":"ES256",'), segment(claims())),
    jose: 'JWSInvalid',
  },
  {
    name: 'header a JSON array',
    token: () => signSegments(segment([ES_HEADER]), segment(claims())),
    jose: 'JWSInvalid',
  },
  { name: 'header empty', token: () => signSegments('', segment(claims())), jose: 'JWSInvalid' },

  // Compact serialization: three base64url segments (RFC 7515 §7.1, §2).
  { name: 'four segments', token: async () => `${await es256()}.`, jose: 'JWSInvalid' },
  {
    name: 'five segments (a JWE shape)',
    token: async () => `${await es256()}.AAAA.AAAA`,
    jose: 'JWSInvalid',
  },
  {
    name: 'two segments',
    token: async () =>
      split(await es256())
        .slice(0, 2)
        .join('.'),
    jose: 'JWSInvalid',
  },
  { name: 'one segment', token: async () => split(await es256())[0], jose: 'JWSInvalid' },
  { name: 'empty string', token: () => '', jose: 'JWSInvalid' },
  {
    name: 'header with "+" (standard base64 alphabet)',
    token: () => edit(es256(), 0, (text) => `${text.slice(0, 4)}+${text.slice(5)}`),
    jose: 'JWSInvalid',
  },
  {
    name: 'header with "!"',
    token: () => edit(es256(), 0, (text) => `${text.slice(0, 4)}!${text.slice(5)}`),
    jose: 'JWSInvalid',
  },
  {
    name: 'header with a non-ASCII look-alike',
    token: () => edit(es256(), 0, (text) => `ť${text.slice(1)}`),
    jose: 'JWSInvalid',
  },
  {
    name: 'signature with "/"',
    token: () => edit(es256(), 2, (text) => `${text.slice(0, 4)}/${text.slice(5)}`),
    jose: 'JWSInvalid',
  },
  {
    name: 'signature with a non-ASCII look-alike',
    token: () => edit(es256(), 2, (text) => `${text.slice(0, 4)}ť${text.slice(5)}`),
    jose: 'JWSInvalid',
  },
  {
    name: 'payload with "+", signature not over it',
    token: () => edit(es256(), 1, (text) => `${text.slice(0, 4)}+${text.slice(5)}`),
    jose: 'JWSSignatureVerificationFailed',
  },
  {
    name: 'payload in standard base64 (with "+" or "/"), signed as such',
    token: () =>
      signSegments(segment(ES_HEADER), standardBase64Segment(claims({ jti: '??>>??>>' }))),
    jose: 'JWSInvalid',
  },
  {
    // "ť" is U+0165: jose refuses the non-ASCII signing input (RFC 7515 §5.2 step 8 signs
    // ASCII(...)). An encoder that keeps only the low byte would see "e" and verify.
    name: 'payload with a non-ASCII look-alike of "e"',
    token: () => edit(es256(), 1, (text) => text.replace('e', 'ť')),
    jose: 'JWSInvalid',
  },
  // A key holder's malformed tokens: not base64url, not UTF-8. jose refuses them; a lenient
  // decoder (Buffer.from drops a dangling character, toString('utf8') makes bad bytes U+FFFD)
  // would accept them.
  {
    name: 'header of length ≡ 1 (mod 4), signed as such (RFC 4648 §4)',
    token: () => signSegments(danglingSegment(ES_HEADER), segment(claims())),
    jose: 'JWSInvalid',
  },
  {
    name: 'payload of length ≡ 1 (mod 4), signed as such',
    token: () => signSegments(segment(ES_HEADER), danglingSegment(claims())),
    jose: 'JWSInvalid',
  },
  {
    name: 'header not UTF-8 (a 0xFF byte), signed as such (RFC 7515 §5.2 step 3)',
    token: () =>
      signSegments(b64u(jsonWithByte({ ...ES_HEADER, x: '#' }, '#', 0xff)), segment(claims())),
    jose: 'JWSInvalid',
  },
  {
    // Decoded leniently, "jti-\xFF" and "jti-\xFE" would both read "jti-\uFFFD".
    name: 'payload not UTF-8 (a 0xFF byte in jti), signed as such (RFC 7519 §7.2 step 10)',
    token: () =>
      signSegments(segment(ES_HEADER), b64u(jsonWithByte(claims({ jti: 'jti-#' }), '#', 0xff))),
    jose: 'JWTInvalid',
  },

  // kid (RFC 7515 §4.1.4): chosen from the set, never used as a path or a query.
  {
    name: 'junk kid',
    token: () => es256(claims(), { kid: "../../../etc/passwd' OR '1'='1" }),
    jose: 'JWKSNoMatchingKey',
  },
  { name: 'kid a number', token: () => es256(claims(), { kid: 1 }), jose: 'JWKSNoMatchingKey' },
  {
    name: 'no kid, two P-256 keys in the set',
    token: () => es256(claims(), { kid: undefined }),
    keys: { keys: [jwkOf(es.publicKey), jwkOf(es2.publicKey)] },
    jose: 'JWKSMultipleMatchingKeys',
  },

  // crit (RFC 7515 §4.1.11): an extension neither verifier knows.
  {
    name: 'crit naming an unknown extension',
    token: () => signSegments(segment({ ...ES_HEADER, crit: ['exp'], exp: 1 }), segment(claims())),
    jose: 'JOSENotSupported',
  },
];

describe('verifyJwt agrees with jose jwtVerify', () => {
  it.each(cases)('$name', async (c) => {
    const { ours, jose } = await runBoth(c);
    expect.soft(summary(jose), 'jose verdict in the table').toBe(c.jose);
    expect(ours).toEqual(jose);
  });
});

// --- Deliberately stricter ----------------------------------------------------------------------

interface StricterCase extends Case {
  /** verifyJwt's verdict: always a rejection. */
  ours: string;
}

const stricter: StricterCase[] = [
  {
    // verifyJwt knows no extension, so it refuses any crit up front, even the one jose
    // understands: a JWT never needs "b64" (RFC 7797 §7), and refusing is always safe.
    name: 'crit ["b64"] with b64: true',
    token: () =>
      signSegments(segment({ ...ES_HEADER, crit: ['b64'], b64: true }), segment(claims())),
    jose: 'accepted',
    ours: 'JOSENotSupported',
  },
  {
    // jose refuses it too, after the signature, as an unencoded payload (JWTInvalid).
    name: 'crit ["b64"] with b64: false (RFC 7797)',
    token: () =>
      signSegments(segment({ ...ES_HEADER, crit: ['b64'], b64: false }), segment(claims())),
    jose: 'JWTInvalid',
    ours: 'JOSENotSupported',
  },
  {
    // jose refuses a malformed crit as JWSInvalid; verifyJwt refuses any crit the same way.
    name: 'crit not an array',
    token: () => signSegments(segment({ ...ES_HEADER, crit: 'b64', b64: true }), segment(claims())),
    jose: 'JWSInvalid',
    ours: 'JOSENotSupported',
  },
  {
    // Without crit, jose ignores "b64" and decodes the payload anyway; verifyJwt refuses a
    // header that claims an unencoded payload rather than read it as encoded.
    name: 'b64: false without crit',
    token: () => signSegments(segment({ ...ES_HEADER, b64: false }), segment(claims())),
    jose: 'accepted',
    ours: 'JWTInvalid',
  },
  {
    // RFC 7515 §2: base64url "with all trailing '=' characters omitted". jose's decoder (atob,
    // or Uint8Array.fromBase64 in loose mode) takes padding; verifyJwt takes the JWS alphabet only.
    name: 'header with "=" padding, signed as such',
    token: () => signSegments(paddedSegment(ES_HEADER), segment(claims())),
    jose: 'accepted',
    ours: 'JWSInvalid',
  },
  {
    // The signature is not signed, so anyone can append padding to a valid token: jose accepts
    // the altered string, verifyJwt keeps one spelling per token.
    name: 'valid token with "==" appended to its signature',
    token: async () => `${await es256()}==`,
    jose: 'accepted',
    ours: 'JWSInvalid',
  },
  {
    // RFC 7515 §7.1 / §2: no whitespace. jose's decoder skips it, again malleating the token.
    name: 'valid token with a space inside its signature',
    token: () => edit(es256(), 2, (text) => `${text.slice(0, 10)} ${text.slice(10)}`),
    jose: 'accepted',
    ours: 'JWSInvalid',
  },
  {
    // RFC 8259 §8.1: no byte order mark in JSON texts; TextDecoder strips one, JSON.parse
    // (as verifyJwt uses it) does not.
    name: 'header starting with a UTF-8 BOM, signed as such',
    token: () =>
      signSegments(
        b64u(
          Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(ES_HEADER))]),
        ),
        segment(claims()),
      ),
    jose: 'accepted',
    ours: 'JWSInvalid',
  },
  {
    name: 'payload starting with a UTF-8 BOM, signed as such',
    token: () =>
      signSegments(
        segment(ES_HEADER),
        b64u(
          Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(claims()))]),
        ),
      ),
    jose: 'accepted',
    ours: 'JWTInvalid',
  },
  {
    // JSON reads 1e400 as Infinity: to jose a token that never expires. A NumericDate is a
    // number of seconds (RFC 7519 §2); verifyJwt requires it finite.
    name: 'exp 1e400 (Infinity)',
    token: () => withNumber('exp', '1e400'),
    jose: 'accepted',
    ours: claimFailed('exp', 'invalid'),
  },
  {
    // jose calls it expired (JWTExpired); verifyJwt calls it malformed.
    name: 'exp -1e400 (-Infinity)',
    token: () => withNumber('exp', '-1e400'),
    jose: EXPIRED,
    ours: claimFailed('exp', 'invalid'),
  },
  {
    name: 'iat 1e400 (Infinity)',
    token: () => withNumber('iat', '1e400'),
    jose: 'accepted',
    ours: claimFailed('iat', 'invalid'),
  },
  {
    // verifyJwt takes CryptoKey or KeyObject public keys only (the vault's getKey is always
    // createLocalJWKSet, which returns CryptoKeys); jose would import a returned JWK itself.
    name: 'getKey returns a public JWK',
    token: () => es256(),
    getKey: async () => exportJwk(es.publicKey),
    jose: 'accepted',
    ours: 'TypeError',
  },
];

describe('verifyJwt is deliberately stricter than jose jwtVerify', () => {
  it.each(stricter)('$name', async (c) => {
    const { ours, jose } = await runBoth(c);
    expect.soft(summary(jose), 'jose verdict in the table').toBe(c.jose);
    expect(summary(ours)).toBe(c.ours);
  });
});

// --- What the differential cannot show ----------------------------------------------------------

describe('verifyJwt', () => {
  const keySet = createLocalJWKSet(KEYS);

  it('checks the signature before it trusts the payload (RFC 7515 §5.2 step 8 before RFC 7519 §7.2 step 10)', async () => {
    const header = segment(ES_HEADER);
    for (const payload of [b64u('not json'), b64u('[1]'), '!!not base64url!!']) {
      const token = `${header}.${payload}.${b64u(Buffer.alloc(64, 7))}`;
      await expect(verifyJwt(token, keySet, OPTIONS)).rejects.toThrow(
        errors.JWSSignatureVerificationFailed,
      );
    }
  });

  it('carries the payload on JWTExpired, for callers that read error.payload.jti', async () => {
    const token = await es256(claims({ jti: 'jti-expired', exp: now - 3600 }));
    const error = await verifyJwt(token, keySet, OPTIONS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.JWTExpired);
    const expired = error as InstanceType<typeof errors.JWTExpired>;
    expect(expired.payload.jti).toBe('jti-expired');
    expect(expired.claim).toBe('exp');
    expect(expired.reason).toBe('check_failed');
  });

  it('carries the payload on JWTClaimValidationFailed', async () => {
    const token = await es256(claims({ jti: 'jti-wrong-aud', aud: 'https://other.example' }));
    const error = await verifyJwt(token, keySet, OPTIONS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.JWTClaimValidationFailed);
    expect((error as InstanceType<typeof errors.JWTClaimValidationFailed>).payload.jti).toBe(
      'jti-wrong-aud',
    );
  });

  it.each([
    ['ES256', () => es256(), es.publicKey],
    ['EdDSA', () => eddsa(), ed.publicKey],
  ] as const)(
    'verifies %s with a KeyObject that getKey returns directly',
    async (_, token, key) => {
      const { payload, protectedHeader } = await verifyJwt(await token(), async () => key, OPTIONS);
      expect(payload).toEqual(claims());
      expect(protectedHeader.kid).toBeDefined();
    },
  );

  it('verifies with a CryptoKey that getKey returns directly', async () => {
    const key = await cryptoKey(es.publicKey, { name: 'ECDSA', namedCurve: 'P-256' }, ['verify']);
    const { payload } = await verifyJwt(await es256(), async () => key, OPTIONS);
    expect(payload).toEqual(claims());
  });

  const p256Private = () =>
    crypto.subtle.importKey(
      'jwk',
      es.privateKey.export({ format: 'jwk' }) as JsonWebKey,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
  const notPublicKeys: [string, () => Promise<string>, JWTVerifyGetKey][] = [
    ['the P-256 private KeyObject', es256, async () => es.privateKey],
    ['the Ed25519 private KeyObject', eddsa, async () => ed.privateKey],
    ['the P-256 private CryptoKey', es256, p256Private],
    ['a secret KeyObject', es256, async () => createSecretKey(Buffer.alloc(32, 1))],
    ['a symmetric key as bytes', es256, async () => new Uint8Array(32)],
  ];

  it.each(notPublicKeys)(
    'refuses %s from getKey (TypeError), as jose does',
    async (_, sign, getKey) => {
      const token = await sign();
      await expect(verifyJwt(token, getKey, OPTIONS)).rejects.toThrow(TypeError);
      const joseOptions = {
        ...OPTIONS,
        algorithms: [...OPTIONS.algorithms],
        requiredClaims: ['jti'],
      };
      await expect(jwtVerify(token, getKey, joseOptions)).rejects.toThrow(TypeError);
    },
  );
});
