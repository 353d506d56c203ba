import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditExport,
  type IssuedWebkey,
  type RedemptionResponse,
  verifyAuditExport,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import SQLite from 'better-sqlite3';
import type { JSONWebKeySet } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.ts';
import { MASTER_KEY_FILE } from '../crypto/master-keyring.ts';
import { startTestVault, type TestStorage, type TestVault } from '../testing/test-vault.ts';
import { BackupError, backupSqlite, restoreSqlite } from './backup.ts';

const PROFILE = { legalName: 'Grace Brewster Hopper', birthDate: '1906-12-09' };
const HOME = { lines: ['1 Navy Yard'], locality: 'Arlington', region: 'VA', country: 'US' };

function sqliteFile(vault: TestVault): string {
  const { database } = vault.storage;
  if (database.kind !== 'sqlite') throw new Error('SQLite only');
  return database.file;
}

describe('SQLite backup and restore', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'webkey-backup-'));
    dirs.push(dir);
    return dir;
  };
  let vault: TestVault;
  let vendor: TestVendor;
  let customer: VaultCustomer;
  let redemption: RedemptionResponse;
  let vaultClosed = false;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    vendor = await TestVendor.start('Backup Test Optics');
    customer = new VaultCustomer(vault.url);
    await customer.signUp('Grace');
    await customer.expect('PUT', '/api/v1/records/profile', PROFILE, 201);
    await customer.expect('PUT', '/api/v1/records/address.home', HOME, 201);
    const key = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home', 'profile.age_over_21'], purpose: 'Glasses delivery', uses: 3 },
      201,
    );
    const answer = await vendor.redeem(vault.url, { key: key.key }, { idempotencyKey: 'b-1' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    redemption = answer.body as RedemptionResponse;
  });

  afterAll(async () => {
    await vendor?.stop();
    if (vaultClosed) await vault.storage.dispose();
    else await vault?.dispose();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('backs up a running vault and restores it into a fresh data dir', async () => {
    const backups = tempDir();
    const file = join(backups, 'vault-backup.sqlite');
    // Writes keep coming while the copy is made: the backup is one consistent snapshot.
    const writes = Promise.all(
      ['address.work', 'address.billing', 'address.shipping'].map((path) =>
        customer.expect('PUT', `/api/v1/records/${path}`, HOME, 201),
      ),
    );
    const result = await backupSqlite(sqliteFile(vault), file);
    await writes;
    expect(result).toMatchObject({ file });
    expect(result.bytes).toBeGreaterThan(0);
    // The master key is not in the backup: the operator keeps a copy of it with the backup.
    copyFileSync(join(vault.storage.dataDir, MASTER_KEY_FILE), join(backups, MASTER_KEY_FILE));

    await vault.close();
    vaultClosed = true;
    const dataDir = join(tempDir(), 'data');
    const restored = await restoreSqlite(file, join(dataDir, 'vault.sqlite'));
    expect(restored.file).toBe(join(dataDir, 'vault.sqlite'));
    copyFileSync(join(backups, MASTER_KEY_FILE), join(dataDir, MASTER_KEY_FILE));
    chmodSync(join(dataDir, MASTER_KEY_FILE), 0o600);

    const storage: TestStorage = {
      dataDir,
      database: { kind: 'sqlite', file: restored.file },
      dispose: async () => undefined,
    };
    const again = await startTestVault('sqlite', { storage, config: { devMode: true } });
    try {
      // The same passkey signs in to the restored vault (the RP id is the same host).
      const back = new VaultCustomer(again.url, { authenticator: customer.authenticator });
      const signIn = await back.signIn();
      expect(signIn.status, JSON.stringify(signIn.body)).toBe(200);
      const profile = await back.expect<{ content: unknown }>('GET', '/api/v1/records/profile');
      expect(profile.content).toEqual(PROFILE);
      const home = await back.expect<{ content: unknown }>('GET', '/api/v1/records/address.home');
      expect(home.content).toEqual(HOME);

      const exported = await back.expect<AuditExport>('GET', '/api/v1/audit/export');
      const redeemed = exported.entries.find((entry) => entry.id === redemption.auditEntryId);
      expect(redeemed).toMatchObject({ event: 'key_redeemed', keyId: redemption.keyId });
      const jwks = await back.expect<JSONWebKeySet>('GET', '/.well-known/jwks.json');
      expect(await verifyAuditExport(exported, { jwks })).toMatchObject({
        ok: true,
        entries: exported.entries.length,
      });
    } finally {
      await again.close();
    }
  });

  it('refuses to overwrite an existing backup file', async () => {
    const file = join(tempDir(), 'taken.sqlite');
    const fd = openSync(file, 'wx');
    writeSync(fd, 'an older backup');
    await expect(backupSqlite(sqliteFile(vault), file)).rejects.toThrow(
      /exists; refusing to overwrite/,
    );
  });

  it('refuses to restore a file that is not a sound Webkey database, and leaves nothing behind', async () => {
    const dir = tempDir();
    const target = join(dir, 'data', 'vault.sqlite');
    const junk = join(dir, 'junk.sqlite');
    const fd = openSync(junk, 'wx');
    writeSync(fd, 'this is not a database'.repeat(400));
    await expect(restoreSqlite(junk, target)).rejects.toThrow(/not a usable SQLite database/);

    const other = join(dir, 'other.sqlite');
    const db = new SQLite(other);
    db.exec('create table notes (text)');
    db.close();
    await expect(restoreSqlite(other, target)).rejects.toThrow(/not a Webkey vault database/);

    // A real backup with one page overwritten.
    const good = join(dir, 'good.sqlite');
    await backupSqlite(sqliteFile(vault), good);
    const corrupt = join(dir, 'corrupt.sqlite');
    copyFileSync(good, corrupt);
    const reader = new SQLite(good, { readonly: true });
    const page = reader.pragma('page_size', { simple: true }) as number;
    reader.close();
    const handle = openSync(corrupt, 'r+');
    writeSync(handle, Buffer.alloc(page, 0x5a), 0, page, page * 3);
    const failure = await restoreSqlite(corrupt, target).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BackupError);
    expect(String(failure)).toMatch(/malformed|integrity check/);

    expect(readdirSync(join(dir, 'data'))).toEqual([]);
  });

  it('refuses to restore over a database a vault has open', async () => {
    const running = await startTestVault('sqlite');
    try {
      const file = join(tempDir(), 'backup.sqlite');
      await backupSqlite(sqliteFile(running), file);
      await expect(restoreSqlite(file, sqliteFile(running))).rejects.toThrow(/is in use/);
      // Still serving, untouched.
      expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
    } finally {
      await running.dispose();
    }
  });

  it('the CLI prints what it wrote, and the pg_dump steps on PostgreSQL (exit 2)', async () => {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => err.push(String(chunk)) > 0);
    const dataDir = tempDir();
    expect(await main(['migrate'], { WEBKEY_DATA_DIR: dataDir })).toBe(0);
    const file = join(tempDir(), 'cli-backup.sqlite');
    expect(await main(['backup', file], { WEBKEY_DATA_DIR: dataDir })).toBe(0);
    expect(out.join('')).toContain(`wrote ${file}`);
    expect(out.join('')).toContain('does not contain the master key');
    expect(await main(['backup', file], { WEBKEY_DATA_DIR: dataDir })).toBe(1);
    expect(err.join('')).toContain('refusing to overwrite');
    const postgres = { WEBKEY_DATA_DIR: dataDir, DATABASE_URL: 'postgres://u@127.0.0.1:1/db' };
    expect(await main(['backup', file], postgres)).toBe(2);
    expect(await main(['restore', file], postgres)).toBe(2);
    expect(err.join('')).toContain('pg_dump --format=custom');
    expect(err.join('')).toContain('pg_restore');
  });

  describe('restoring into a vault that has its own keys and data', () => {
    let out: string[];
    let err: string[];
    let source: TestStorage;
    let target: TestStorage;
    let backup: string;

    beforeAll(async () => {
      const a = await startTestVault('sqlite');
      await new VaultCustomer(a.url).signUp('Ann');
      await a.close();
      source = a.storage;
      const b = await startTestVault('sqlite');
      await new VaultCustomer(b.url).signUp('Ben');
      await b.close();
      target = b.storage;
      backup = join(tempDir(), 'from-a.sqlite');
      expect(await main(['backup', backup], { WEBKEY_DATA_DIR: source.dataDir })).toBe(0);
    });
    afterAll(async () => {
      await source.dispose();
      await target.dispose();
    });

    beforeEach(() => {
      out = [];
      err = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => err.push(String(chunk)) > 0);
    });

    const targetEnv = () => ({ WEBKEY_DATA_DIR: target.dataDir });
    const leftovers = () =>
      readdirSync(target.dataDir).filter((name) => name.includes('before-restore'));
    /** Ben's vault still starts on its own database, with its own key. */
    async function targetStillServesBen() {
      const vault = await startTestVault('sqlite', { storage: target });
      try {
        const customers = await vault.ctx.db.selectFrom('customers').select('id').execute();
        expect(customers).toHaveLength(1);
      } finally {
        await vault.close();
      }
    }

    it("refuses a backup under a master key this vault's keyring does not hold, replacing nothing", async () => {
      expect(await main(['restore', backup], targetEnv())).toBe(1);
      expect(err.join('')).toMatch(
        /under master key [0-9a-f]+, which .* does not hold: restore that key/,
      );
      expect(leftovers()).toEqual([]);
      await targetStillServesBen();
    });

    it('refuses a backup from a newer version before replacing anything', async () => {
      const newer = join(tempDir(), 'newer.sqlite');
      copyFileSync(backup, newer);
      const db = new SQLite(newer);
      db.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run(
        '2099-01-01T0000-from-the-future',
        new Date().toISOString(),
      );
      db.close();
      expect(await main(['restore', newer, '--force'], targetEnv())).toBe(1);
      expect(err.join('')).toContain('comes from a newer version of the vault');
      expect(leftovers()).toEqual([]);
      await targetStillServesBen();
    });

    it('refuses unknown options', async () => {
      expect(await main(['restore', backup, '--forse'], targetEnv())).toBe(2);
      expect(await main(['keys', 'rotate-signing', '--grace', '48'], targetEnv())).toBe(2);
      expect(await main(['audit', 'verify', backup, '--jwk', 'x'], targetEnv())).toBe(2);
      expect(err.join('')).toContain('unknown option: --grace 48');
      expect(leftovers()).toEqual([]);
    });

    it('restores with --force, keeping the database it replaced', async () => {
      expect(await main(['restore', backup, '--force'], targetEnv())).toBe(0);
      const [kept] = leftovers();
      expect(kept).toMatch(/^vault\.sqlite\.before-restore-/);
      expect(out.join('')).toContain(
        `the database it replaced is kept as ${join(target.dataDir, kept!)}`,
      );
      const previous = new SQLite(join(target.dataDir, kept!), { readonly: true });
      expect(previous.prepare('select count(*) as n from customers').get()).toEqual({ n: 1 });
      previous.close();
    });
  });
});
