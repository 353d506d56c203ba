import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig, VaultConfig } from '../config.ts';
import type { Engine } from '../db/schema.ts';
import { type Clock, type Logger, silentLogger } from '../deps.ts';
import { type RunningVault, startVault } from '../vault.ts';

/**
 * Test support: real vaults on 127.0.0.1 over real storage. SQLite always; Postgres whenever
 * WEBKEY_TEST_POSTGRES_URL is set, each vault in a schema of its own so runs never collide.
 */

const POSTGRES_URL = process.env.WEBKEY_TEST_POSTGRES_URL;

if (process.env.CI && !POSTGRES_URL) {
  throw new Error(
    'CI is set but WEBKEY_TEST_POSTGRES_URL is not: the Postgres contract run would be skipped',
  );
}

/** The engines every storage contract test runs on. */
export const TEST_ENGINES: Engine[] = POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];

/** A clock tests move by hand. @example const clock = testClock(); clock.advance(60_000); */
export function testClock(
  start = Date.parse('2026-11-23T12:00:00Z'),
): Clock & { advance(ms: number): void } {
  let now = start;
  const clock = () => new Date(now);
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/** Storage for one test: a fresh SQLite directory or a fresh Postgres schema. */
export interface TestStorage {
  dataDir: string;
  database: DatabaseConfig;
  dispose(): Promise<void>;
}

/** Creates empty storage on an engine. Fails loudly when Postgres was asked for but is down. */
export async function createTestStorage(engine: Engine): Promise<TestStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), 'webkey-test-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (engine === 'sqlite') {
    return {
      dataDir,
      database: { kind: 'sqlite', file: join(dataDir, 'vault.sqlite') },
      dispose: async () => removeDir(),
    };
  }
  if (!POSTGRES_URL) throw new Error('WEBKEY_TEST_POSTGRES_URL is not set');
  const schema = `wk_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Postgres at WEBKEY_TEST_POSTGRES_URL is unreachable: ${(error as Error).message}`,
    );
  }
  await admin.query(`create schema ${schema}`);
  await admin.end();
  return {
    dataDir,
    database: { kind: 'postgres', url: POSTGRES_URL, schema },
    dispose: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
      removeDir();
    },
  };
}

/** A vault under test with its storage. */
export interface TestVault extends RunningVault {
  storage: TestStorage;
  config: VaultConfig;
  /** Stops the vault and deletes its storage. */
  dispose(): Promise<void>;
}

/**
 * Starts a vault on 127.0.0.1 with a free port on fresh storage.
 *
 * @example
 * const vault = await startTestVault('sqlite'); ...; await vault.dispose();
 */
export async function startTestVault(
  engine: Engine,
  options: {
    clock?: Clock;
    storage?: TestStorage;
    config?: Partial<VaultConfig>;
    logger?: Logger;
    /** See VaultDependencies.requestTimeoutMs. */
    requestTimeoutMs?: number;
  } = {},
): Promise<TestVault> {
  const storage = options.storage ?? (await createTestStorage(engine));
  const config: VaultConfig = {
    host: '127.0.0.1',
    port: 0,
    dataDir: storage.dataDir,
    database: storage.database,
    sessionTtlSeconds: 3600,
    devMode: false,
    ...options.config,
  };
  let vault: RunningVault;
  try {
    vault = await startVault(config, {
      logger: options.logger ?? silentLogger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
  } catch (error) {
    // Storage the caller passed in is theirs to dispose; storage made here is ours.
    if (!options.storage) await storage.dispose();
    throw error;
  }
  return {
    ...vault,
    storage,
    config,
    dispose: async () => {
      await vault.close();
      await storage.dispose();
    },
  };
}
