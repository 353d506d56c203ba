import type { Kysely } from 'kysely';
import type { MasterKeyring } from './crypto/master-keyring.ts';
import type { Database, Engine } from './db/schema.ts';
import type { Clock, Logger, RandomBytes } from './deps.ts';

/**
 * Everything the vault's features need, built once by the composition root (vault.ts) and
 * passed down; nothing reads globals, so tests control time, randomness and storage.
 */
export interface VaultContext {
  db: Kysely<Database>;
  engine: Engine;
  keyring: MasterKeyring;
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  /** The origin customers' browsers use, e.g. https://vault.example. */
  origin: string;
  /** The WebAuthn relying party id: the origin's host name. */
  rpId: string;
  sessionTtlMs: number;
}
