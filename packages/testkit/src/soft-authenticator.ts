import type { KeyObject } from 'node:crypto';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * How a {@link SoftAuthenticator} behaves. Every field is optional.
 *
 * @example
 * const options: SoftAuthenticatorOptions = { userVerification: false, counterStart: 10 };
 * const authenticator = new SoftAuthenticator(options);
 */
export interface SoftAuthenticatorOptions {
  /** Set the UV (user verified) flag in authenticator data. Default `true`. */
  userVerification?: boolean;
  /** Set the UP (user present) flag in authenticator data. Default `true`. */
  userPresence?: boolean;
  /**
   * The signature counter a new credential starts at (reported at registration). Each assertion
   * increments it by 1 first, so with the default `0` the first assertion reports `1`.
   */
  counterStart?: number;
  /** Set the BE (backup eligible) flag, making credentials "multiDevice". Default `false`. */
  backupEligible?: boolean;
  /** Set the BS (backed up) flag; meaningful only with `backupEligible`. Default `false`. */
  backupState?: boolean;
  /** Length of new credential ids, bytes (1 to 65535). Default 32. */
  credentialIdBytes?: number;
}

/**
 * A public view of one credential held by a {@link SoftAuthenticator} (the private key stays
 * inside the authenticator).
 *
 * @example
 * const [credential]: StoredCredential[] = authenticator.credentials;
 * credential?.counter; // 0 right after registration
 */
export interface StoredCredential {
  /** Credential id, base64url (32 random bytes). */
  id: string;
  /** The RP ID the credential is scoped to. */
  rpId: string;
  /** The user handle, base64url, exactly as given in `options.user.id` at registration. */
  userHandle: string;
  /** The current signature counter (the value the last response reported). */
  counter: number;
}

/** Context for {@link SoftAuthenticator.createCredential}. */
interface CreateContext {
  /** The origin the "browser" reports in clientDataJSON, e.g. `http://localhost:7420`. */
  origin: string;
  /** The RP ID to scope the credential to. Default `options.rp.id`, else the origin's host. */
  rpId?: string;
}

/** Context for {@link SoftAuthenticator.getAssertion}. */
interface GetContext {
  /** The origin the "browser" reports in clientDataJSON, e.g. `http://localhost:7420`. */
  origin: string;
  /** The RP ID to sign for. Default `options.rpId`, else the origin's host. */
  rpId?: string;
  /** Use this credential (base64url id), even if `allowCredentials` or the RP ID would not. */
  credentialId?: string;
  /** Report this user handle (base64url) instead of the stored one, for negative tests. */
  userHandle?: string;
}

interface CredentialRecord extends StoredCredential {
  privateKey: KeyObject;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const COSE_ALG_ES256 = -7;
const MAX_COUNTER = 0xffff_ffff;

function authenticatorError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function b64url(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
}

/** Re-encode a base64url id so ids with and without padding compare equal. */
function normalizeId(id: string): string {
  return Buffer.from(id, 'base64url').toString('base64url');
}

function checkCounter(counter: number): number {
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) {
    throw new RangeError(`counter must be an integer from 0 to ${MAX_COUNTER}, got ${counter}`);
  }
  return counter;
}

function defaultRpId(origin: string): string {
  return new URL(origin).hostname;
}

function clientDataJSON(
  type: 'webauthn.create' | 'webauthn.get',
  challenge: string,
  origin: string,
) {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

/**
 * A software WebAuthn authenticator for tests: ES256 (P-256) keys, attestation format `"none"`,
 * discoverable credentials, a signature counter per credential, and configurable UP/UV/BE flags.
 * Its responses verify with `@simplewebauthn/server`'s `verifyRegistrationResponse` and
 * `verifyAuthenticationResponse`, so tests can run the real passkey ceremony over HTTP.
 *
 * @example
 * const authenticator = new SoftAuthenticator();
 * const origin = 'http://localhost:7420';
 * const registration = await authenticator.createCredential(
 *   await generateRegistrationOptions({ rpName: 'Webkey', rpID: 'localhost', userName: 'ada' }),
 *   { origin },
 * );
 * const assertion = await authenticator.getAssertion(
 *   await generateAuthenticationOptions({ rpID: 'localhost' }),
 *   { origin },
 * );
 */
export class SoftAuthenticator {
  /** Whether the next ceremonies report user verification (UV); change it to test refusals. */
  userVerification: boolean;
  /** Whether the next ceremonies report user presence (UP). */
  userPresence: boolean;
  /** Whether the next ceremonies report the credential backup eligible (BE). */
  backupEligible: boolean;
  /** Whether the next ceremonies report the credential backed up (BS). */
  backupState: boolean;
  readonly #counterStart: number;
  readonly #credentialIdBytes: number;
  readonly #records = new Map<string, CredentialRecord>();

  /**
   * @example
   * const authenticator = new SoftAuthenticator({ userVerification: false });
   */
  constructor(options: SoftAuthenticatorOptions = {}) {
    this.userVerification = options.userVerification ?? true;
    this.userPresence = options.userPresence ?? true;
    this.#counterStart = checkCounter(options.counterStart ?? 0);
    this.backupEligible = options.backupEligible ?? false;
    this.backupState = options.backupState ?? false;
    this.#credentialIdBytes = options.credentialIdBytes ?? 32;
    if (
      !Number.isInteger(this.#credentialIdBytes) ||
      this.#credentialIdBytes < 1 ||
      this.#credentialIdBytes > 0xffff
    )
      throw new RangeError('credentialIdBytes must be an integer from 1 to 65535');
  }

  /**
   * The `navigator.credentials.create()` equivalent: takes the options `generateRegistrationOptions`
   * returns and answers with the `RegistrationResponseJSON` a browser would send. Throws an error
   * named `InvalidStateError` if `options.excludeCredentials` names a credential this
   * authenticator holds for the RP, and `NotSupportedError` if ES256 (-7) is not acceptable.
   *
   * @example
   * const options = await generateRegistrationOptions({ rpName: 'Webkey', rpID: 'localhost', userName: 'ada' });
   * const response = await authenticator.createCredential(options, { origin: 'http://localhost:7420' });
   * await verifyRegistrationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: 'http://localhost:7420', expectedRPID: 'localhost' });
   */
  async createCredential(
    options: PublicKeyCredentialCreationOptionsJSON,
    context: CreateContext,
  ): Promise<RegistrationResponseJSON> {
    const rpId = context.rpId ?? options.rp.id ?? defaultRpId(context.origin);

    const params = options.pubKeyCredParams ?? [];
    if (params.length > 0 && !params.some((p) => p.alg === COSE_ALG_ES256)) {
      throw authenticatorError('NotSupportedError', 'The RP does not accept ES256 (-7) keys');
    }

    for (const excluded of options.excludeCredentials ?? []) {
      const held = this.#records.get(normalizeId(excluded.id));
      if (held && held.rpId === rpId) {
        throw authenticatorError(
          'InvalidStateError',
          `This authenticator already holds excluded credential ${held.id}`,
        );
      }
    }

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    if (!jwk.x || !jwk.y) throw new Error('P-256 public key export lacks x/y');
    const coseKey = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, COSE_ALG_ES256], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, new Uint8Array(Buffer.from(jwk.x, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y, 'base64url'))],
      ]),
    );

    const credentialId = randomBytes(this.#credentialIdBytes);
    const id = credentialId.toString('base64url');
    const counter = this.#counterStart;

    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length);
    const authData = Buffer.concat([
      this.#authDataHeader(rpId, FLAG_AT, counter),
      Buffer.alloc(16), // AAGUID: all zeros
      idLength,
      credentialId,
      coseKey,
    ]);

    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, never>>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );

    this.#records.set(id, { id, rpId, userHandle: options.user.id, counter, privateKey });

    const spki = publicKey.export({ format: 'der', type: 'spki' });
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(
          clientDataJSON('webauthn.create', options.challenge, context.origin),
        ),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
        publicKeyAlgorithm: COSE_ALG_ES256,
        publicKey: b64url(spki),
        authenticatorData: b64url(authData),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * The `navigator.credentials.get()` equivalent. Uses `context.credentialId` if given, else the
   * first stored credential for the RP ID that `options.allowCredentials` allows (any, if that is
   * empty), else throws an error named `NotAllowedError`. Increments the credential's counter by 1
   * and signs `authData || SHA-256(clientDataJSON)`. The user handle is always included.
   *
   * @example
   * const options = await generateAuthenticationOptions({ rpID: 'localhost' });
   * const response = await authenticator.getAssertion(options, { origin: 'http://localhost:7420' });
   * response.response.userHandle; // the user.id given at registration
   */
  async getAssertion(
    options: PublicKeyCredentialRequestOptionsJSON,
    context: GetContext,
  ): Promise<AuthenticationResponseJSON> {
    const rpId = context.rpId ?? options.rpId ?? defaultRpId(context.origin);
    const record = this.#pick(options, rpId, context.credentialId);

    record.counter = record.counter >= MAX_COUNTER ? 0 : record.counter + 1;
    const authData = this.#authDataHeader(rpId, 0, record.counter);
    const clientData = clientDataJSON('webauthn.get', options.challenge, context.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), {
      key: record.privateKey,
      dsaEncoding: 'der',
    });

    return {
      id: record.id,
      rawId: record.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: context.userHandle ?? record.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * Copies of the stored credentials, in creation order.
   *
   * @example
   * const ids = authenticator.credentials.map((c) => c.id);
   */
  get credentials(): StoredCredential[] {
    return [...this.#records.values()].map(({ id, rpId, userHandle, counter }) => ({
      id,
      rpId,
      userHandle,
      counter,
    }));
  }

  /**
   * Set a credential's counter; the next assertion reports `counter + 1`. Use it to simulate a
   * cloned authenticator (a counter that goes backwards).
   *
   * @example
   * authenticator.setCounter(credentialId, 0); // the server has seen 2: the next assertion is refused
   */
  setCounter(credentialId: string, counter: number): void {
    const record = this.#records.get(normalizeId(credentialId));
    if (!record) throw authenticatorError('NotFoundError', `No credential ${credentialId}`);
    record.counter = checkCounter(counter);
  }

  #pick(
    options: PublicKeyCredentialRequestOptionsJSON,
    rpId: string,
    credentialId: string | undefined,
  ): CredentialRecord {
    if (credentialId !== undefined) {
      const record = this.#records.get(normalizeId(credentialId));
      if (!record) throw authenticatorError('NotAllowedError', `No credential ${credentialId}`);
      return record;
    }
    const allowed = new Set((options.allowCredentials ?? []).map((c) => normalizeId(c.id)));
    for (const record of this.#records.values()) {
      if (record.rpId === rpId && (allowed.size === 0 || allowed.has(record.id))) return record;
    }
    throw authenticatorError('NotAllowedError', `No usable credential for RP ID ${rpId}`);
  }

  #authDataHeader(rpId: string, extraFlags: number, counter: number): Buffer {
    let flags = extraFlags;
    if (this.userPresence) flags |= FLAG_UP;
    if (this.userVerification) flags |= FLAG_UV;
    if (this.backupEligible) flags |= FLAG_BE;
    if (this.backupState) flags |= FLAG_BS;
    const tail = Buffer.alloc(5);
    tail.writeUInt8(flags, 0);
    tail.writeUInt32BE(counter, 1);
    return Buffer.concat([sha256(rpId), tail]);
  }
}
