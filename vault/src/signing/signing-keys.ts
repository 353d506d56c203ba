import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyResult,
  errors as joseErrors,
  SignJWT,
} from 'jose';
import type { Kysely } from 'kysely';
import { open, seal } from '../crypto/aead.ts';
import { newId } from '../crypto/ids.ts';
import { type JwtVerifyOptions, verifyJwt } from '../crypto/jwt-verify.ts';
import type { MasterKeyring } from '../crypto/master-keyring.ts';
import { MasterKeyError } from '../crypto/master-keyring.ts';
import type { Database } from '../db/schema.ts';
import type { Clock, RandomBytes } from '../deps.ts';
import type { SigningKeysTable } from './signing.table.ts';

/** The algorithm of every vault signature (web keys, checkpoints). */
export const SIGNING_ALGORITHM = 'ES256';
/** How often a vault re-reads its signing keys, to see a rotation made by another process. */
const RELOAD_INTERVAL_MS = 30_000;
/** Default time a rotated-out key keeps verifying: longer than any web key lives. */
export const DEFAULT_ROTATION_GRACE_MS = 25 * 3600 * 1000;

function sealContext(kid: string): string {
  return `webkey:signing-key:v1:${kid}`;
}

/** Seals a private JWK under the current master key. */
export function sealPrivateJwk(
  keyring: MasterKeyring,
  kid: string,
  jwk: JWK,
  random: RandomBytes,
): { private_key: Uint8Array; master_key_id: string } {
  const plaintext = Buffer.from(JSON.stringify(jwk), 'utf8');
  return {
    private_key: seal(keyring.current.key, plaintext, sealContext(kid), random),
    master_key_id: keyring.current.id,
  };
}

/** Opens a sealed private JWK. */
export function openPrivateJwk(
  keyring: MasterKeyring,
  row: Pick<SigningKeysTable, 'kid' | 'private_key' | 'master_key_id'>,
): JWK {
  const master = keyring.byId(row.master_key_id);
  if (!master) throw new MasterKeyError(`master key ${row.master_key_id} is not in the keyring`);
  return JSON.parse(
    Buffer.from(open(master.key, row.private_key, sealContext(row.kid))).toString('utf8'),
  );
}

/** Creates a fresh signing key row (ES256), sealed for storage. */
export async function createSigningKeyRow(
  keyring: MasterKeyring,
  random: RandomBytes,
  now: number,
): Promise<SigningKeysTable> {
  const kid = newId('sig', random);
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' };
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    public_jwk: JSON.stringify(publicJwk),
    ...sealPrivateJwk(keyring, kid, privateJwk, random),
    created_at: now,
    retired_at: null,
    verify_until: null,
  };
}

/**
 * Retires the active signing key(s) and makes a new one active; the old ones keep verifying
 * for `graceMs`. Runs in one transaction.
 */
export async function rotateSigningKey(
  db: Kysely<Database>,
  keyring: MasterKeyring,
  random: RandomBytes,
  now: number,
  graceMs = DEFAULT_ROTATION_GRACE_MS,
): Promise<{ kid: string; retired: string[] }> {
  const row = await createSigningKeyRow(keyring, random, now);
  return db.transaction().execute(async (trx) => {
    const retired = await trx
      .updateTable('signing_keys')
      .set({ retired_at: now, verify_until: now + graceMs })
      .where('retired_at', 'is', null)
      .returning('kid')
      .execute();
    await trx.insertInto('signing_keys').values(row).execute();
    return { kid: row.kid, retired: retired.map((r) => r.kid) };
  });
}

/** Least time between two reads of the keys prompted by an unknown key id. */
const RELOAD_AFTER_MISS_MS = 1000;

interface LoadedKeys {
  signing: { kid: string; key: CryptoKey };
  jwks: JSONWebKeySet;
  verifier: ReturnType<typeof createLocalJWKSet>;
  loadedAt: number;
  /** When they must be read again: after RELOAD_INTERVAL_MS, or when a retired key's grace ends. */
  staleAt: number;
}

/**
 * The vault's signing keys: one active key signs; it and retired keys still in their grace
 * period verify and are published in the JWKS. Private keys are stored sealed by the master key.
 * The first vault to start creates the first key.
 */
export class VaultSigner {
  #loaded: LoadedKeys | undefined;
  #loading: Promise<LoadedKeys> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly keyring: MasterKeyring,
    private readonly clock: Clock,
    private readonly random: RandomBytes,
    private readonly issuer: string,
  ) {}

  /** Loads the keys, creating the first one if the vault has none. */
  async init(): Promise<void> {
    const active = await this.db
      .selectFrom('signing_keys')
      .select('kid')
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (!active) {
      await this.db
        .insertInto('signing_keys')
        .values(await createSigningKeyRow(this.keyring, this.random, this.clock().getTime()))
        .execute();
    }
    await this.reload();
  }

  /** The public keys that verify the vault's signatures now. */
  async jwks(): Promise<JSONWebKeySet> {
    return (await this.keys()).jwks;
  }

  /**
   * Signs a JWT of the given type (RFC 8725 section 3.11: every kind of token its own `typ`).
   *
   * @example
   * const jws = await signer.sign({ scope: ['address.home'] }, 'webkey+jwt');
   */
  async sign(claims: JWTPayload, typ: string): Promise<string> {
    const { signing } = await this.keys();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ, kid: signing.kid })
      .setIssuer(this.issuer)
      .sign(signing.key);
  }

  /**
   * Signs raw bytes with the active key (ECDSA P-256 SHA-256, raw r||s as in JWS): webhook
   * signatures, which sign `id.timestamp.body` rather than a JWT.
   */
  async signBytes(data: Uint8Array): Promise<{ kid: string; signature: Uint8Array }> {
    const { signing } = await this.keys();
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      signing.key,
      data as Uint8Array<ArrayBuffer>,
    );
    return { kid: signing.kid, signature: new Uint8Array(signature) };
  }

  /** Verifies a JWT the vault signed: pinned algorithm, type and issuer. */
  async verify(
    token: string,
    typ: string,
    options: Pick<JwtVerifyOptions, 'requiredClaims' | 'audience' | 'clockTolerance'> = {},
  ): Promise<JWTVerifyResult> {
    const verifyWith = async (keys: LoadedKeys) =>
      verifyJwt(token, keys.verifier, {
        ...options,
        typ,
        algorithms: [SIGNING_ALGORITHM],
        issuer: this.issuer,
        currentDate: this.clock(),
      });
    const keys = await this.keys();
    try {
      return await verifyWith(keys);
    } catch (error) {
      const again =
        error instanceof joseErrors.JWKSNoMatchingKey && (await this.#reloadedAfterMiss(keys));
      if (!again) throw error;
      return verifyWith(again);
    }
  }

  /**
   * Whether the key `kid` verifies the vault's signatures now: the active key, or a retired one in
   * its grace period.
   */
  async verifies(kid: string): Promise<boolean> {
    const known = (keys: LoadedKeys) => keys.jwks.keys.some((key) => key.kid === kid);
    const keys = await this.keys();
    if (known(keys)) return true;
    const again = await this.#reloadedAfterMiss(keys);
    return again ? known(again) : false;
  }

  /**
   * The keys read again after `keys` lacked a key id: another instance may have rotated moments
   * ago. At most once a second, so unknown ids cannot make every request read the database;
   * undefined when `keys` are fresher than that.
   */
  async #reloadedAfterMiss(keys: LoadedKeys): Promise<LoadedKeys | undefined> {
    if (this.clock().getTime() - keys.loadedAt < RELOAD_AFTER_MISS_MS) return undefined;
    await this.reload();
    return this.#loaded;
  }

  /** Re-reads the keys now (after a rotation in this process). */
  async reload(): Promise<void> {
    this.#loaded = await this.load();
  }

  private async keys(): Promise<LoadedKeys> {
    const loaded = this.#loaded;
    if (loaded && this.clock().getTime() < loaded.staleAt) return loaded;
    this.#loading ??= this.load().finally(() => {
      this.#loading = undefined;
    });
    this.#loaded = await this.#loading;
    return this.#loaded;
  }

  private async load(): Promise<LoadedKeys> {
    const now = this.clock().getTime();
    const rows = await this.db
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('retired_at', 'is', null), eb('verify_until', '>', now)]))
      .orderBy('created_at', 'desc')
      .execute();
    const active = rows.find((row) => row.retired_at === null);
    if (!active) throw new Error('the vault has no active signing key');
    const jwk = openPrivateJwk(this.keyring, active);
    const key = (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey;
    const jwks: JSONWebKeySet = { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
    return {
      signing: { kid: active.kid, key },
      jwks,
      verifier: createLocalJWKSet(jwks),
      loadedAt: now,
      // A retired key stops verifying when its grace ends, not up to RELOAD_INTERVAL_MS later.
      staleAt: Math.min(
        now + RELOAD_INTERVAL_MS,
        ...rows.flatMap((row) => (row.verify_until === null ? [] : [row.verify_until])),
      ),
    };
  }
}
