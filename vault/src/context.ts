import type { Kysely } from 'kysely';
import type { MasterKeyring } from './crypto/master-keyring.ts';
import type { Durability } from './db/group-commit.ts';
import type { Database, Engine } from './db/schema.ts';
import type { Clock, Logger, RandomBytes } from './deps.ts';
import type { TrustedProxies } from './http/client-address.ts';
import type { VaultMetrics } from './observability/metrics.ts';
import type { MetricsAccess } from './observability/metrics-access.ts';
import type { VaultSigner } from './signing/signing-keys.ts';
import type { VendorRegistry } from './vendors/vendor-registry.ts';

/**
 * Everything the vault's features need, built once by the composition root (vault.ts) and
 * passed down; nothing reads globals, so tests control time, randomness and storage.
 */
export interface VaultContext {
  db: Kysely<Database>;
  engine: Engine;
  /** Makes commits durable before a write is acknowledged (group commit on SQLite). */
  durability: Durability;
  keyring: MasterKeyring;
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  /** The origin customers' browsers use, e.g. https://vault.example. */
  origin: string;
  /** The WebAuthn relying party id: the origin's host name. */
  rpId: string;
  sessionTtlMs: number;
  /** Development mode: vendors on http://localhost allowed. Never in production. */
  devMode: boolean;
  /** The vault's signing keys (web keys, audit checkpoints). */
  signer: VaultSigner;
  /** Vendors by metadata URL. */
  vendors: VendorRegistry;
  /** Prometheus counters and histograms of this process. */
  metrics: VaultMetrics;
  /** Proxies whose X-Forwarded-For names the client. */
  trustedProxies: TrustedProxies;
  /** Passkey ceremonies one client address may start per minute (limits/ceremony-limits.ts). */
  ceremonyStartsPerMinute: number;
  /** Who may read `/metrics` (see observability/metrics-access.ts). */
  metricsAccess: (authorization: string | undefined) => MetricsAccess;
}
