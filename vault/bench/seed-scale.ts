/**
 * Seeds a vault data dir with many customers and audit entries, written straight into the
 * SQLite database (1,000,000 passkey sign-ups over HTTP would take hours), for
 * `pnpm bench:scale`.
 *
 * The rows are genuine (see seed-rows.ts): the data dir is first opened the normal way
 * (openVault: data dir, master key file, migrations, first signing key); every customer gets a
 * random data key wrapped under the vault's current master key, as at sign-up, and every audit
 * entry is built by the function appendAudit uses, hash-chained per customer from the genesis
 * hash and sealed under that customer's data key. A vault opened on the dir reads, extends,
 * exports and verifies them like any other. Seeded customers have no passkeys, records or keys.
 *
 * Customers go in in id order, each followed by their entries, 5,000 customers to a
 * transaction, with prepared statements; worker threads build rows (the hashing and sealing)
 * while the main thread inserts. The database is loaded without a journal, then put back in WAL
 * mode; `seed.json` in the dir marks a seed that ran to the end.
 *
 *   tsx vault/bench/seed-scale.ts --data-dir DIR [--customers N] [--entries M] [--workers W]
 *   (defaults: 1,000,000 customers, 10,000,000 entries, one worker thread per core)
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import SQLite from 'better-sqlite3';
import type { CustomersTable } from '../src/accounts/accounts.table.ts';
import type { AuditEntriesTable } from '../src/audit/audit.table.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/crypto/ids.ts';
import { silentLogger } from '../src/deps.ts';
import { openVault } from '../src/vault.ts';
import {
  buildChunk,
  type Chunk,
  ChunkBuilders,
  type ChunkTask,
  pooledRandom,
} from './seed-rows.ts';

/** What a seed wrote; also the contents of `<dataDir>/seed.json`. */
export interface SeedSummary {
  customers: number;
  auditEntries: number;
  seconds: number;
  /** Size of vault.sqlite after seeding, in MB. */
  databaseMb: number;
  seededAt: string;
}

/** The marker a seed that ran to the end leaves in the data dir. */
export const SEED_MARKER = 'seed.json';

/** The summary of a data dir seeded to the end, or undefined. */
export function readSeedSummary(dataDir: string): SeedSummary | undefined {
  const file = join(dataDir, SEED_MARKER);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as SeedSummary;
}

export interface SeedOptions {
  dataDir: string;
  customers: number;
  auditEntries: number;
  /** Worker threads building rows while the main thread inserts; 0 builds them in line. */
  workers?: number;
  /** Receives progress lines (about every 10 s). */
  progress?: (line: string) => void;
}

/** Customers built and inserted together: one message from a worker. */
const CHUNK_CUSTOMERS = 5_000;

const number = (value: number) => value.toLocaleString('en');

/**
 * Seeds a fresh data dir (missing or without a database); refuses one that holds a database.
 *
 * @example
 * const summary = await seedScale({ dataDir, customers: 1_000_000, auditEntries: 10_000_000 });
 */
export async function seedScale(options: SeedOptions): Promise<SeedSummary> {
  const { dataDir, customers: total, auditEntries } = options;
  if (!Number.isInteger(total) || total < 1 || !Number.isInteger(auditEntries) || auditEntries < 0)
    throw new Error('seed: customers must be a positive integer, entries a non-negative one');
  const progress = options.progress ?? (() => undefined);
  const file = join(dataDir, 'vault.sqlite');
  if (existsSync(file)) throw new Error(`${file} exists: seed a fresh data dir`);
  const started = performance.now();
  const seedTime = Date.now();

  // Open the vault the normal way: data dir, master key file, migrations, first signing key.
  const config = loadConfig({ WEBKEY_DATA_DIR: dataDir, WEBKEY_LOG_LEVEL: 'warn' });
  const opened = await openVault(config, 'http://localhost:7420', { logger: silentLogger });
  const { keyring } = opened.ctx;
  await opened.database.close();

  const sqlite = new SQLite(file);
  // Bulk load in one transaction, with its rollback journal in memory and no syncs (a seed cut
  // short is thrown away: only a finished one writes the marker), then back to WAL mode, which
  // the vault runs in. (WAL would write every page twice; and every commit writes out every page
  // changed since the last, which random audit entry ids spread all over their index.)
  const journal = sqlite.pragma('journal_mode = MEMORY', { simple: true });
  if (journal !== 'memory') throw new Error(`seed: journal mode ${journal}, not memory`);
  sqlite.pragma('synchronous = OFF');
  sqlite.pragma('locking_mode = EXCLUSIVE');
  sqlite.pragma('cache_size = -4000000');
  sqlite.pragma('foreign_keys = OFF');
  const insertCustomer = sqlite.prepare<[CustomersTable]>(
    'insert into customers (id, user_handle, data_key, master_key_id, created_at, updated_at) values (@id, @user_handle, @data_key, @master_key_id, @created_at, @updated_at)',
  );
  const insertEntry = sqlite.prepare<[AuditEntriesTable]>(
    'insert into audit_entries (id, customer_id, seq, at, event, vendor_id, hash, body) values (@id, @customer_id, @seq, @at, @event, @vendor_id, @hash, @body)',
  );
  const insertChunk = (chunk: Chunk) => {
    for (const row of chunk.customers) insertCustomer.run(row);
    for (const row of chunk.entries) insertEntry.run(row);
  };

  // Customer ids as the vault makes them, inserted in id order (index appends, not splits).
  const random = pooledRandom();
  const ids = Array.from({ length: total }, () => newId('cus', random)).sort();
  const chunks = Math.ceil(total / CHUNK_CUSTOMERS);
  const task = (chunk: number): ChunkTask => ({
    ids: ids.slice(chunk * CHUNK_CUSTOMERS, (chunk + 1) * CHUNK_CUSTOMERS),
    first: chunk * CHUNK_CUSTOMERS,
    customers: total,
    entries: auditEntries,
    seedTime,
  });
  const workers = Math.max(0, options.workers ?? availableParallelism());
  const builders = workers > 0 ? new ChunkBuilders(workers, dataDir) : undefined;
  // Chunks requested ahead of the one being inserted: every worker busy, memory bounded.
  const lead = workers * 2;
  let written = 0;
  let reported = 0;
  sqlite.exec('begin');
  try {
    for (let chunk = 0; chunk < Math.min(lead, chunks); chunk++)
      builders?.request(chunk, task(chunk));
    for (let chunk = 0; chunk < chunks; chunk++) {
      let rows: Chunk;
      if (builders) {
        rows = await builders.take(chunk);
        if (chunk + lead < chunks) builders.request(chunk + lead, task(chunk + lead));
      } else {
        rows = buildChunk(keyring, random, task(chunk));
      }
      insertChunk(rows);
      written += rows.entries.length;
      const seconds = (performance.now() - started) / 1000;
      if (seconds - reported >= 10 || chunk === chunks - 1) {
        reported = seconds;
        const done = Math.min(total, (chunk + 1) * CHUNK_CUSTOMERS);
        progress(
          `seed: ${number(done)} of ${number(total)} customers, ${number(written)} audit entries, ${seconds.toFixed(0)} s (${number(Math.round(written / seconds))} entries/s)`,
        );
      }
    }
    sqlite.exec('commit');
  } finally {
    await builders?.close();
    if (sqlite.inTransaction) {
      sqlite.exec('rollback');
      sqlite.close();
    }
  }
  sqlite.pragma('locking_mode = NORMAL');
  sqlite.pragma('journal_mode = WAL');
  sqlite.close();
  // Write the loaded pages out now, so their writeback does not run into the next measurement.
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }

  const summary: SeedSummary = {
    customers: total,
    auditEntries: written,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    databaseMb: Math.round(statSync(file).size / 1024 / 1024),
    seededAt: new Date(seedTime).toISOString(),
  };
  writeFileSync(join(dataDir, SEED_MARKER), `${JSON.stringify(summary)}\n`, { mode: 0o600 });
  return summary;
}

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

async function main(): Promise<void> {
  const dataDir = option('--data-dir', '');
  if (!dataDir)
    throw new Error('usage: seed-scale.ts --data-dir DIR [--customers N] [--entries M]');
  const summary = await seedScale({
    dataDir,
    customers: Number(option('--customers', '1000000')),
    auditEntries: Number(option('--entries', '10000000')),
    workers: Number(option('--workers', String(availableParallelism()))),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify({ seed: 'scale', ...summary })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`seed failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
