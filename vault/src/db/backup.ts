import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import { fsyncPath } from '../fsync-path.ts';
import { openDatabase } from './database.ts';
import { migrateToLatest, migrationNames } from './migrate.ts';

/**
 * Backup and restore of the embedded SQLite database (`webkey-vault backup FILE`,
 * `webkey-vault restore FILE`). PostgreSQL has its own tools: see {@link POSTGRES_BACKUP_ADVICE}.
 *
 * Neither copies the master key: a backup is useless without a copy of the key file (or the
 * `WEBKEY_MASTER_KEY` keyring) that was current when it was made, and that copy must be kept
 * with it (but stored apart).
 */

/** A backup or restore that could not be done; the message says why, for an operator. */
export class BackupError extends Error {
  override name = 'BackupError';
}

/** What `webkey-vault backup` and `restore` print for a PostgreSQL database. */
export const POSTGRES_BACKUP_ADVICE = `backup and restore work on the embedded SQLite database only; with PostgreSQL use its own tools:
  pg_dump --format=custom --file=FILE "$DATABASE_URL"
  pg_restore --clean --if-exists --no-owner --single-transaction --dbname="$DATABASE_URL" FILE
then run \`webkey-vault migrate\`. See docs/operations.md, "Backup and restore".`;

/** What a backup wrote. */
export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
}

/** What a restore put in place. */
export interface RestoreResult {
  file: string;
  bytes: number;
  /** Migrations the restored database needed, by name. */
  migrations: string[];
  /** Where the database it replaced was kept, if there was one. */
  previous?: string;
}

/** What a sound vault database file holds that a restore must know before using it. */
export interface VaultFileFacts {
  /** The master key ids its secrets (data keys, signing keys) are wrapped under. */
  masterKeyIds: string[];
  /** The migrations applied to it, by name. */
  migrations: string[];
}

/** Copies every remaining page in one step: one read transaction, one consistent snapshot. */
const ALL_PAGES = 0x7fffffff;

/** Tables a Webkey database always has: a file without them is not one of ours. */
const REQUIRED_TABLES = ['kysely_migration', 'customers', 'audit_entries'];

function sqliteMessage(error: unknown): string {
  return (error as Error).message;
}

/**
 * Checks that `file` is a sound Webkey SQLite database: it opens, `PRAGMA integrity_check`
 * answers `ok`, and the vault's tables are there. Throws {@link BackupError} otherwise.
 * The file is opened for writing (a WAL-mode file cannot always be read otherwise); nothing in
 * it is changed (beyond SQLite's own recovery of an interrupted write).
 */
export function verifySqliteFile(file: string, label = file): VaultFileFacts {
  if (!existsSync(file) || !statSync(file).isFile())
    throw new BackupError(`${label}: no such file`);
  let db: SQLite.Database;
  try {
    db = new SQLite(file, { fileMustExist: true, timeout: 0 });
  } catch (error) {
    throw new BackupError(`${label} does not open as a SQLite database: ${sqliteMessage(error)}`);
  }
  try {
    let result: unknown[];
    try {
      result = db.pragma('integrity_check', { simple: false }) as unknown[];
    } catch (error) {
      throw new BackupError(`${label} is not a usable SQLite database: ${sqliteMessage(error)}`);
    }
    const problems = result.map((row) => Object.values(row as object)[0]);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new BackupError(
        `${label} fails the integrity check: ${problems.slice(0, 5).join('; ')}`,
      );
    }
    const tables = new Set(
      (
        db.prepare("select name from sqlite_master where type = 'table'").all() as {
          name: string;
        }[]
      ).map((row) => row.name),
    );
    const missing = REQUIRED_TABLES.filter((table) => !tables.has(table));
    if (missing.length > 0) {
      throw new BackupError(`${label} is not a Webkey vault database (no ${missing.join(', ')})`);
    }
    const column = (query: string) =>
      (db.prepare(query).all() as { value: string }[]).map((row) => row.value);
    return {
      masterKeyIds: column(
        'select master_key_id as value from customers union select master_key_id from signing_keys',
      ),
      migrations: tables.has('kysely_migration')
        ? column('select name as value from kysely_migration order by name')
        : [],
    };
  } finally {
    db.close();
  }
}

/**
 * An online, consistent copy of the vault's SQLite database at `databaseFile` into the new file
 * `backupFile`, safe while vaults are running: SQLite's backup API copies every page in a
 * single step, inside one read transaction (in WAL mode readers never block writers, so vaults
 * keep committing meanwhile). The copy is switched to a rollback journal, so it is one
 * self-contained file, checked with `PRAGMA integrity_check`, and synced to disk. Refuses an
 * existing `backupFile`; on failure nothing is left behind.
 *
 * @example
 * const { bytes } = await backupSqlite('.webkey/vault.sqlite', '/backups/vault-2026-11-23.sqlite');
 */
export async function backupSqlite(
  databaseFile: string,
  backupFile: string,
): Promise<BackupResult> {
  if (!existsSync(databaseFile)) throw new BackupError(`${databaseFile}: no such database`);
  if (!existsSync(dirname(backupFile))) {
    throw new BackupError(`${dirname(backupFile)}: no such directory`);
  }
  // Claim the name atomically: an existing file (an older backup, say) is never overwritten.
  let claimed: number;
  try {
    claimed = openSync(backupFile, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BackupError(`${backupFile} exists; refusing to overwrite it`);
    }
    throw new BackupError(`cannot create ${backupFile}: ${(error as Error).message}`);
  }
  closeSync(claimed);
  let source: SQLite.Database | undefined;
  try {
    try {
      source = new SQLite(databaseFile, { fileMustExist: true });
      source.pragma('busy_timeout = 5000');
    } catch (error) {
      throw new BackupError(`cannot open ${databaseFile}: ${sqliteMessage(error)}`);
    }
    const progress = await source.backup(backupFile, { progress: () => ALL_PAGES });
    source.close();
    source = undefined;
    const copy = new SQLite(backupFile, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    verifySqliteFile(backupFile);
    fsyncPath(backupFile);
    fsyncPath(dirname(backupFile));
    return { file: backupFile, bytes: statSync(backupFile).size, pages: progress.totalPages };
  } catch (error) {
    source?.close();
    for (const suffix of ['', '-journal', '-wal', '-shm']) {
      rmSync(`${backupFile}${suffix}`, { force: true });
    }
    if (error instanceof BackupError) throw error;
    throw new BackupError(`backup failed: ${sqliteMessage(error)}`);
  }
}

/**
 * Refuses when another connection (a running vault, a `webkey-vault` command) has the database
 * at `databaseFile` open. A plain `BEGIN EXCLUSIVE` does not tell: in WAL mode it takes only the
 * write lock, which an idle vault does not hold. In exclusive locking mode, SQLite needs an
 * exclusive lock on the database file itself, and every open connection holds a shared one.
 */
function refuseIfInUse(databaseFile: string): void {
  if (!existsSync(databaseFile)) return;
  let db: SQLite.Database;
  try {
    db = new SQLite(databaseFile, { fileMustExist: true, timeout: 0 });
  } catch (error) {
    throw new BackupError(`cannot open ${databaseFile}: ${sqliteMessage(error)}`);
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('begin exclusive');
    db.prepare('select count(*) from sqlite_master').get();
    db.exec('rollback');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new BackupError(
        `${databaseFile} is in use (is a vault running on it?); stop every vault and command using it first`,
      );
    }
    // Anything else: the old file is damaged (perhaps why it is being restored); it is replaced.
  } finally {
    // The last connection to close folds the old WAL into the old file and removes it.
    db.close();
  }
}

/**
 * Puts the backup `backupFile` in place as the database `databaseFile` (SQLite only), after
 * checking that the backup is sound ({@link verifySqliteFile}) and that no vault has the target
 * open. The copy is written to a temporary file beside the target, checked again, synced, and
 * renamed over it; the old database's `-wal` and `-shm` files are removed first, so they are
 * never replayed onto the restored one. Then pending migrations run (a backup from an older
 * version is brought up to date). The master key is not touched: see the module comment.
 *
 * It cannot stop a vault from starting during the restore: stop vaults (and keep them stopped)
 * first.
 *
 * @example
 * const { migrations } = await restoreSqlite('/backups/vault-2026-11-23.sqlite', '.webkey/vault.sqlite');
 */
export async function restoreSqlite(
  backupFile: string,
  databaseFile: string,
  options: {
    /** Refuses (throws) a sound backup before it replaces anything: its master keys, say. */
    checkBackup?: (facts: VaultFileFacts) => void;
  } = {},
): Promise<RestoreResult> {
  if (!existsSync(backupFile) || !statSync(backupFile).isFile()) {
    throw new BackupError(`${backupFile}: no such file`);
  }
  const directory = dirname(databaseFile);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  refuseIfInUse(databaseFile);
  const temporary = join(
    directory,
    `.${basename(databaseFile)}.restore-${randomBytes(6).toString('hex')}`,
  );
  let previous: string | undefined;
  try {
    copyFileSync(backupFile, temporary);
    // The copy, not the original, is what goes in place: check the bytes that will be used
    // (and leave the operator's backup file untouched, even on read-only media).
    const facts = verifySqliteFile(temporary, backupFile);
    const known = new Set(migrationNames());
    const newer = facts.migrations.filter((name) => !known.has(name));
    if (newer.length > 0) {
      throw new BackupError(
        `${backupFile} comes from a newer version of the vault (migrations ${newer.join(', ')}); restore it with that version`,
      );
    }
    options.checkBackup?.(facts);
    fsyncPath(temporary);
    refuseIfInUse(databaseFile);
    for (const suffix of ['-wal', '-shm', '-journal']) {
      rmSync(`${databaseFile}${suffix}`, { force: true });
    }
    if (existsSync(databaseFile)) {
      // Kept, not overwritten: a restore of the wrong backup must not cost the right database.
      previous = `${databaseFile}.before-restore-${new Date().toISOString().replaceAll(':', '-')}`;
      renameSync(databaseFile, previous);
    }
    renameSync(temporary, databaseFile);
    fsyncPath(directory);
  } catch (error) {
    for (const suffix of ['', '-journal', '-wal', '-shm']) {
      rmSync(`${temporary}${suffix}`, { force: true });
    }
    if (error instanceof BackupError) throw error;
    throw new BackupError(`restore failed: ${(error as Error).message}`);
  }
  const database = openDatabase({ kind: 'sqlite', file: databaseFile });
  try {
    const result = await migrateToLatest(database.db, database.engine);
    return {
      file: databaseFile,
      bytes: statSync(databaseFile).size,
      migrations: result.results?.map((r) => r.migrationName) ?? [],
      ...(previous ? { previous } : {}),
    };
  } finally {
    await database.close();
  }
}
