import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestStorage, TEST_ENGINES, type TestStorage } from '../testing/test-vault.ts';
import { openDatabase } from './database.ts';
import { migrateToLatest } from './migrate.ts';

const ALL = [
  '2026-11-23T1800-accounts',
  '2026-11-23T1801-records',
  '2026-11-23T1900-federation',
  '2026-11-23T2000-rate-limits',
  '2026-11-23T2100-grants',
  '2026-11-23T2200-webhooks',
  '2026-11-23T2300-deposits',
  '2026-12-01T1000-webkey-token-hash',
  '2026-12-01T1700-deposit-jti',
  '2026-12-03T1000-grants-vendor',
];
const TABLES = [
  'customers',
  'deposits',
  'grants',
  'passkeys',
  'rate_limits',
  'record_versions',
  'records',
  'recovery_codes',
  'sessions',
  'webauthn_challenges',
  'webhook_outbox',
];

describe.each(TEST_ENGINES)('migrations on %s', (engine) => {
  let storage: TestStorage;
  afterEach(async () => {
    await storage.dispose();
  });

  it('applies every migration once, then nothing', async () => {
    storage = await createTestStorage(engine);
    const { db, close } = openDatabase(storage.database);
    try {
      const first = await migrateToLatest(db, engine);
      expect(first.results?.map((r) => r.migrationName)).toEqual(ALL);
      expect((await migrateToLatest(db, engine)).results).toEqual([]);
      const tables = (await db.introspection.getTables()).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(TABLES));
    } finally {
      await close();
    }
  });
});

describe('concurrent migrations', () => {
  it.runIf(TEST_ENGINES.includes('postgres'))('agree on Postgres (advisory lock)', async () => {
    const storage = await createTestStorage('postgres');
    const a = openDatabase(storage.database);
    const b = openDatabase(storage.database);
    try {
      const results = await Promise.all([
        migrateToLatest(a.db, 'postgres'),
        migrateToLatest(b.db, 'postgres'),
      ]);
      const applied = results.flatMap((r) => r.results ?? []).map((r) => r.migrationName);
      expect(applied.sort()).toEqual(ALL);
    } finally {
      await a.close();
      await b.close();
      await storage.dispose();
    }
  });

  it('agree on one SQLite file from two processes (immediate transactions)', async () => {
    const storage = await createTestStorage('sqlite');
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'webkey-vault.js');
    const migrate = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'migrate'], {
          env: { PATH: process.env.PATH ?? '', WEBKEY_DATA_DIR: storage.dataDir },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    try {
      const runs = await Promise.all([migrate(), migrate(), migrate()]);
      for (const run of runs) expect(run.code, run.stderr).toBe(0);
      const applied = runs.flatMap(
        (run) => /applied: (.*)/.exec(run.stdout)?.[1]?.split(', ') ?? [],
      );
      expect(applied.sort()).toEqual(ALL);
    } finally {
      await storage.dispose();
    }
  });
});
