import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAuditExport } from '@webkey/protocol';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSeedSummary, seedScale } from '../../bench/seed-scale.ts';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { loadConfig } from '../config.ts';
import type { VaultContext } from '../context.ts';
import { customerKeyFromRow } from '../crypto/data-keys.ts';
import type { VaultDatabase } from '../db/database.ts';
import { silentLogger } from '../deps.ts';
import { openVault } from '../vault.ts';
import { appendAudit } from './audit-log.ts';
import { exportAudit } from './export-audit.ts';

// The scale benchmark's seeder (vault/bench/seed-scale.ts) writes customers and audit entries
// straight into the database; the vault must take them as its own.
describe('rows written by the scale seeder', () => {
  let dataDir: string;
  let ctx: VaultContext;
  let database: VaultDatabase;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'webkey-seed-test-'));
    await seedScale({ dataDir, customers: 3, auditEntries: 15, workers: 0 });
    ({ ctx, database } = await openVault(
      loadConfig({ WEBKEY_DATA_DIR: dataDir }),
      'http://localhost:7420',
      { logger: silentLogger },
    ));
  });

  afterAll(async () => {
    await database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function exportOf(customerId: string) {
    const row = await ctx.db
      .selectFrom('customers')
      .select(['data_key', 'master_key_id'])
      .where('id', '=', customerId)
      .executeTakeFirstOrThrow();
    const dataKey = customerKeyFromRow(ctx.keyring, customerId, row);
    return exportAudit(ctx, ctx.signer, customerId, dataKey);
  }

  it('are customers whose data keys unwrap and whose audit chains verify', async () => {
    const customers = await ctx.db.selectFrom('customers').select('id').orderBy('id').execute();
    expect(customers).toHaveLength(3);
    for (const { id } of customers) {
      const exported = await exportOf(id);
      expect(await verifyAuditExport(exported)).toMatchObject({ ok: true, entries: 5 });
      expect(exported.entries.map((entry) => entry.event)).toEqual([
        'signed_up',
        'record_changed',
        'record_changed',
        'key_issued',
        'key_redeemed',
      ]);
      const times = exported.entries.map((entry) => Date.parse(entry.at));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times.at(-1)).toBeLessThan(Date.now());
    }
    expect(readSeedSummary(dataDir)).toMatchObject({ customers: 3, auditEntries: 15 });
  });

  it('are chains the vault extends and that still verify', async () => {
    const { id } = await ctx.db.selectFrom('customers').select('id').executeTakeFirstOrThrow();
    const appended = await inCustomerTransaction(ctx, id, (scope) =>
      appendAudit(ctx, scope, {
        event: 'signed_in',
        meta: { ip: '127.0.0.1', userAgent: 'vitest' },
      }),
    );
    expect(appended.seq).toBe(6);
    const exported = await exportOf(id);
    expect(await verifyAuditExport(exported)).toMatchObject({
      ok: true,
      entries: 6,
      head: appended.hash,
    });
  });

  it('leave a sound database in WAL mode, every reference resolved', () => {
    const sqlite = new SQLite(join(dataDir, 'vault.sqlite'), { readonly: true });
    try {
      expect(sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(sqlite.pragma('foreign_key_check')).toEqual([]);
      expect(sqlite.prepare('select count(*) as n from passkeys').get()).toEqual({ n: 0 });
    } finally {
      sqlite.close();
    }
  });
});
