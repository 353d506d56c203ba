import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyAuditExport, WEBKEY_LIFETIME } from '@webkey/protocol';
import type { JSONWebKeySet } from 'jose';
import type { Kysely } from 'kysely';
import { ConfigError, loadConfig, type VaultConfig } from './config.ts';
import {
  generateMasterKey,
  keyringFrom,
  loadMasterKeyring,
  MASTER_KEY_FILE,
  MasterKeyError,
  writeKeyringFile,
} from './crypto/master-keyring.ts';
import { countByMasterKey, rewrapAll } from './crypto/rotate-master-key.ts';
import { BackupError, backupSqlite, POSTGRES_BACKUP_ADVICE, restoreSqlite } from './db/backup.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import type { Database } from './db/schema.ts';
import { systemRandom } from './deps.ts';
import { rotateSigningKey } from './signing/signing-keys.ts';
import { startVault } from './vault.ts';
import { serveWorkers, workerCount } from './workers.ts';

const USAGE = `Usage: webkey-vault <command>

Commands:
  serve [--workers N|auto]
                        start the vault (default); N processes share the port
  migrate               apply pending database migrations and exit
  keys rotate-master    re-wrap every customer data key under a new master key
  keys rotate-signing [--grace-hours N]
                        sign with a new key; old keys verify for N hours (default 25)
  audit verify FILE [--jwks FILE]
                        verify an exported audit log; names the first bad entry
  backup FILE           write a consistent copy of the SQLite database to FILE (new), online
  restore FILE [--force]
                        put a backup in place of the SQLite database (vaults stopped), migrate;
                        the replaced database is kept; --force: even under unknown master keys

Configuration comes from environment variables; see docs/operations.md.`;

/** Lets running vaults notice a changed key file before data keys move to the new key. */
const KEY_FILE_SETTLE_MS = 2500;

async function serve(config: VaultConfig): Promise<void> {
  const vault = await startVault(config);
  process.stdout.write(`Webkey vault listening on ${vault.url}\n`);
  const stop = async (signal: string) => {
    process.stdout.write(`${signal} received, stopping\n`);
    await vault.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

async function migrate(config: VaultConfig): Promise<void> {
  const database = openDatabase(config.database);
  try {
    const result = await migrateToLatest(database.db, database.engine);
    const applied = result.results?.map((r) => r.migrationName) ?? [];
    process.stdout.write(
      applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n',
    );
  } finally {
    await database.close();
  }
}

/** Refuses (MasterKeyError) while any secret is wrapped under a key other than `keyId`. */
async function assertOnlyUnder(db: Kysely<Database>, keyId: string): Promise<void> {
  const stale = [...(await countByMasterKey(db))].filter(
    ([id, count]) => id !== keyId && count > 0,
  );
  if (stale.length > 0) {
    throw new MasterKeyError(
      `secrets remain under ${stale.map(([id, count]) => `${id} (${count})`).join(', ')}; those keys are kept: run again`,
    );
  }
}

/**
 * The vault's database, which must exist already (SQLite): a key command run on a mistyped or
 * empty data dir would otherwise create a new vault there, keys and all, and report success.
 */
function openExistingDatabase(config: VaultConfig) {
  if (config.database.kind === 'sqlite' && !existsSync(config.database.file)) {
    throw new ConfigError(
      `no vault database at ${config.database.file}: check WEBKEY_DATA_DIR (or start the vault once)`,
    );
  }
  return openDatabase(config.database);
}

async function rotateMaster(config: VaultConfig): Promise<void> {
  const database = openExistingDatabase(config);
  const report = (counts: { dataKeys: number; signingKeys: number }, masterKeyId: string) =>
    process.stdout.write(
      `re-wrapped ${counts.dataKeys} data keys and ${counts.signingKeys} signing keys; master key is now ${masterKeyId}\n`,
    );
  try {
    await migrateToLatest(database.db, database.engine);
    if (config.masterKey !== undefined) {
      // With the keyring in the environment the operator adds the new key first (see
      // docs/operations.md); this re-wraps everything under it.
      const keyring = loadMasterKeyring(config, systemRandom);
      report(await rewrapAll(database.db, keyring, systemRandom), keyring.current.id);
      // Left under another key (say the new key was not put first): say so, never "remove".
      await assertOnlyUnder(database.db, keyring.current.id);
      // Named, so nobody removes the wrong one (the new key must come first in the variable).
      const others = keyring.keys.filter((key) => key.id !== keyring.current.id);
      if (others.length > 0) {
        process.stdout.write(
          `keep ${keyring.current.id}; ${others.map((key) => key.id).join(', ')} in WEBKEY_MASTER_KEY protect nothing now and can be removed\n`,
        );
      }
      return;
    }
    const previous = loadMasterKeyring(config, systemRandom).keys;
    const next = generateMasterKey(systemRandom);
    const combined = keyringFrom([next, ...previous]);
    // The old keys leave the file only once nothing is left under them: until then a crash, an
    // error or a straggler (a vault that wrapped a key before it saw the new file) loses nothing.
    writeKeyringFile(config.dataDir, combined.keys);
    await sleep(KEY_FILE_SETTLE_MS);
    const first = await rewrapAll(database.db, combined, systemRandom);
    // Stragglers that committed during the first pass, wrapped before their vault saw the file.
    await sleep(KEY_FILE_SETTLE_MS);
    const second = await rewrapAll(database.db, combined, systemRandom);
    await assertOnlyUnder(database.db, next.id);
    writeKeyringFile(config.dataDir, [next]);
    try {
      await assertOnlyUnder(database.db, next.id);
    } catch (error) {
      writeKeyringFile(config.dataDir, combined.keys);
      throw error;
    }
    report(
      {
        dataKeys: first.dataKeys + second.dataKeys,
        signingKeys: first.signingKeys + second.signingKeys,
      },
      next.id,
    );
  } finally {
    await database.close();
  }
}

/** Where the master key lives, for the reminder that a backup does not contain it. */
function masterKeyNote(config: VaultConfig): string {
  return config.masterKey !== undefined
    ? 'the WEBKEY_MASTER_KEY keyring'
    : join(config.dataDir, MASTER_KEY_FILE);
}

async function backupCommand(config: VaultConfig, file: string): Promise<number> {
  if (config.database.kind !== 'sqlite') {
    process.stderr.write(`webkey-vault: ${POSTGRES_BACKUP_ADVICE}\n`);
    return 2;
  }
  const result = await backupSqlite(config.database.file, resolve(file));
  process.stdout.write(
    `wrote ${result.file}: a consistent copy of ${config.database.file} (${result.pages} pages, ${result.bytes} bytes)\n`,
  );
  process.stdout.write(
    `it does not contain the master key: keep a copy of ${masterKeyNote(config)} with it, stored apart\n`,
  );
  return 0;
}

/**
 * Refuses (BackupError) a backup whose secrets are wrapped under master keys this vault's
 * keyring does not hold: restored, it would leave a vault that cannot start, over a database
 * that may have been the good one. Without a keyring yet (a new data dir) there is nothing to
 * compare: the command says where the key file goes.
 */
function refuseForeignBackup(config: VaultConfig, backupKeyIds: string[]): void {
  if (config.masterKey === undefined && !existsSync(join(config.dataDir, MASTER_KEY_FILE))) return;
  const held = new Set(loadMasterKeyring(config, systemRandom).keys.map((key) => key.id));
  const missing = backupKeyIds.filter((id) => !held.has(id));
  if (missing.length > 0) {
    throw new BackupError(
      `the backup's secrets are under master key ${missing.join(', ')}, which ${masterKeyNote(config)} does not hold: restore that key with it, or pass --force`,
    );
  }
}

async function restoreCommand(config: VaultConfig, file: string, force: boolean): Promise<number> {
  if (config.database.kind !== 'sqlite') {
    process.stderr.write(`webkey-vault: ${POSTGRES_BACKUP_ADVICE}\n`);
    return 2;
  }
  const result = await restoreSqlite(resolve(file), config.database.file, {
    checkBackup: force
      ? () => undefined
      : ({ masterKeyIds }) => refuseForeignBackup(config, masterKeyIds),
  });
  process.stdout.write(
    `restored ${resolve(file)} as ${result.file} (${result.bytes} bytes); ${result.migrations.length ? `applied: ${result.migrations.join(', ')}` : 'database is up to date'}\n`,
  );
  if (result.previous) {
    process.stdout.write(`the database it replaced is kept as ${result.previous}\n`);
  }
  if (config.masterKey === undefined && !existsSync(join(config.dataDir, MASTER_KEY_FILE))) {
    process.stdout.write(
      `no master key in ${masterKeyNote(config)}: copy the key file kept with this backup there before starting the vault\n`,
    );
  }
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  return 2;
}

/** The value after `name` in `args`, or `fallback`. */
/**
 * `--name value` options and `--flag`s, refusing (undefined) anything not in `valued` or
 * `flags`, a valued option without its value, or any other word: a mistyped option must not be
 * silently ignored (`--grace 48` would otherwise rotate with the default grace).
 */
function parseOptions(
  args: string[],
  valued: string[],
  flags: string[] = [],
): Map<string, string> | undefined {
  const parsed = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!;
    if (flags.includes(name)) parsed.set(name, 'true');
    else if (valued.includes(name) && args[i + 1] !== undefined) parsed.set(name, args[++i]!);
    else return undefined;
  }
  return parsed;
}

async function rotateSigning(config: VaultConfig, graceMs: number): Promise<void> {
  const database = openExistingDatabase(config);
  try {
    await migrateToLatest(database.db, database.engine);
    const keyring = loadMasterKeyring(config, systemRandom);
    const { kid, retired } = await rotateSigningKey(
      database.db,
      keyring,
      systemRandom,
      Date.now(),
      graceMs,
    );
    process.stdout.write(
      `signing with ${kid}; ${retired.length ? `${retired.join(', ')} verify until ${new Date(Date.now() + graceMs).toISOString()}` : 'no previous key'}\n`,
    );
    process.stdout.write('running vaults pick up the new key within 30 seconds\n');
  } finally {
    await database.close();
  }
}

async function verifyAuditFile(file: string, jwksFile: string): Promise<number> {
  let exported: unknown;
  let jwks: JSONWebKeySet | undefined;
  try {
    exported = JSON.parse(readFileSync(file, 'utf8'));
    if (jwksFile) jwks = JSON.parse(readFileSync(jwksFile, 'utf8')) as JSONWebKeySet;
  } catch (error) {
    process.stderr.write(
      `webkey-vault: cannot read ${jwksFile && !jwks ? jwksFile : file}: ${(error as Error).message}\n`,
    );
    return 1;
  }
  const result = await verifyAuditExport(exported, jwks ? { jwks } : {});
  if (result.ok) {
    process.stdout.write(`ok: ${result.entries} entries verified; head ${result.head}\n`);
    if (!jwks)
      process.stdout.write(
        "(checked against the keys inside the export; pass --jwks with the vault's JWKS to check who signed it)\n",
      );
    return 0;
  }
  const { firstBad } = result;
  const where =
    firstBad.seq !== undefined
      ? `entry ${firstBad.seq}${firstBad.id ? ` (${firstBad.id})` : ''}`
      : `position ${firstBad.index + 1}`;
  process.stdout.write(`FAILED at ${where}: ${firstBad.reason}\n`);
  return 1;
}

/**
 * The `webkey-vault` command line.
 *
 * @example
 * await main(['serve'], process.env);
 */
export async function main(argv: string[], environment: NodeJS.ProcessEnv): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const config = loadConfig(environment);
    if (command === 'serve') {
      const workers = workerCount(rest);
      if (rest.length > 0 && workers === undefined)
        return usage(`unknown option: ${rest.join(' ')}`);
      if (workers !== undefined && workers > 1) {
        await serveWorkers(config, workers, (line) => process.stdout.write(`${line}\n`));
      } else {
        await serve(config);
      }
      return -1; // keeps running
    }
    if (command === 'migrate' && rest.length === 0) {
      await migrate(config);
      return 0;
    }
    if (command === 'keys' && rest[0] === 'rotate-master' && rest.length === 1) {
      await rotateMaster(config);
      return 0;
    }
    if (command === 'keys' && rest[0] === 'rotate-signing') {
      const options = parseOptions(rest.slice(1), ['--grace-hours']);
      if (!options) return usage(`unknown option: ${rest.slice(1).join(' ')}`);
      const grace = options.get('--grace-hours') ?? '25';
      // Keys already handed out must keep verifying until the longest of them expires, and
      // running vaults go on signing with the old key for up to 30 s after the rotation: an hour
      // more than the longest lifetime covers both.
      const minimum = WEBKEY_LIFETIME.max / 3600 + 1;
      if (!/^\d+(\.\d+)?$/.test(grace) || Number(grace) < minimum) {
        return usage(
          `--grace-hours takes a number of hours, at least ${minimum} (the longest a web key lives, plus an hour for running vaults to switch keys)`,
        );
      }
      await rotateSigning(config, Number(grace) * 3600 * 1000);
      return 0;
    }
    if (command === 'backup' && rest.length === 1) return await backupCommand(config, rest[0]!);
    if (command === 'restore' && rest[0] !== undefined && !rest[0].startsWith('--')) {
      const options = parseOptions(rest.slice(1), [], ['--force']);
      if (!options) return usage(`unknown option: ${rest.slice(1).join(' ')}`);
      return await restoreCommand(config, rest[0], options.has('--force'));
    }
    if (command === 'audit' && rest[0] === 'verify' && rest[1] !== undefined) {
      const options = parseOptions(rest.slice(2), ['--jwks']);
      if (!options) return usage(`unknown option: ${rest.slice(2).join(' ')}`);
      return verifyAuditFile(rest[1], options.get('--jwks') ?? '');
    }
    return usage(`unknown command: ${argv.join(' ')}`);
  } catch (error) {
    if (
      error instanceof ConfigError ||
      error instanceof MasterKeyError ||
      error instanceof BackupError
    ) {
      process.stderr.write(`webkey-vault: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
