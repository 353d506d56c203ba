import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import {
  type BackgroundCheckpointOptions,
  startBackgroundCheckpoints,
} from './background-checkpoints.ts';
import { alreadyDurable, type Durability, GroupCommit } from './group-commit.ts';
import type { Database, Engine } from './schema.ts';
import { ImmediateSqliteDialect } from './sqlite-dialect.ts';
import type { WriteLock } from './write-lock.ts';

/** An open database with the engine it runs on. */
export interface VaultDatabase {
  db: Kysely<Database>;
  engine: Engine;
  /** Await before acknowledging a write: see group-commit.ts. */
  durability: Durability;
  close(): Promise<void>;
}

const PG_INT8 = 20;
const PG_NUMERIC = 1700;

// Times and counters are stored as int8; pg hands int8 back as strings by default. Our values
// stay far below 2^53, so numbers are exact.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === PG_INT8 || oid === PG_NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the vault's database: SQLite in WAL mode (the default), or PostgreSQL.
 * A Postgres `schema` confines every table to that schema (tests use one per run).
 *
 * @example
 * const { db, close } = openDatabase({ kind: 'sqlite', file: '.webkey/vault.sqlite' });
 */
export function openDatabase(
  config: DatabaseConfig,
  options: {
    /** SQLite: taken around writes, when other processes write the same file (see WriteLock). */
    writeLock?: WriteLock;
    /**
     * SQLite: checkpoint the WAL in a worker thread, not in the writer's commits (see
     * background-checkpoints.ts). For a serving vault; one-off commands need not start a thread.
     */
    backgroundCheckpoints?: BackgroundCheckpointOptions;
  } = {},
): VaultDatabase {
  if (config.kind === 'sqlite') {
    // Private from the start: a command run on a new (or mistyped) data dir creates it here.
    mkdirSync(dirname(config.file), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(config.file);
    sqlite.pragma('journal_mode = WAL');
    // NORMAL: commits are not synced one by one; GroupCommit syncs the WAL for every write
    // request before it is answered, so an acknowledged write still survives power loss.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // Reads outside transactions use a connection of their own: WAL readers see committed
    // data only and never queue behind the writer (see GroupedSqliteDriver).
    const reader = new SQLite(config.file);
    reader.pragma('query_only = ON');
    reader.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({
      dialect: new ImmediateSqliteDialect({
        database: sqlite,
        reader,
        ...(options.writeLock ? { writeLock: options.writeLock } : {}),
      }),
    });
    const checkpoints =
      options.backgroundCheckpoints &&
      startBackgroundCheckpoints(sqlite, config.file, options.backgroundCheckpoints);
    return {
      db,
      engine: 'sqlite',
      durability: new GroupCommit(`${config.file}-wal`),
      close: async () => {
        await checkpoints?.close();
        await db.destroy();
      },
    };
  }
  if (config.schema !== undefined && !SCHEMA_NAME.test(config.schema)) {
    throw new Error(`invalid Postgres schema name ${config.schema}`);
  }
  const pool = new pg.Pool({
    connectionString: config.url,
    types: pgTypes,
    max: 10,
    ...(config.schema ? { options: `-c search_path=${config.schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Postgres syncs every commit itself (synchronous_commit = on, the default).
  return { db, engine: 'postgres', durability: alreadyDurable, close: () => db.destroy() };
}
