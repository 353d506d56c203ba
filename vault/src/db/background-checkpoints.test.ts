import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BackgroundCheckpointOptions,
  startBackgroundCheckpoints,
} from './background-checkpoints.ts';
import { openDatabase } from './database.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A WAL-mode database with a table, as the vault's writer connection has it. */
function writerOnFreshFile(): { writer: SQLite.Database; file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'webkey-checkpoints-'));
  const file = join(dir, 'vault.sqlite');
  const writer = new SQLite(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('synchronous = NORMAL');
  writer.exec('create table rows (id integer primary key, body text not null)');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => writer.close());
  return { writer, file, dir };
}

function start(writer: SQLite.Database, file: string, options: BackgroundCheckpointOptions = {}) {
  const checkpoints = startBackgroundCheckpoints(writer, file, { intervalMs: 10, ...options });
  cleanups.push(() => checkpoints.close());
  return checkpoints;
}

/** Rows the database file itself holds, without its WAL: what checkpoints have copied there. */
function rowsInDatabaseFile(file: string, dir: string): number {
  const copy = join(dir, `copy-${Math.random()}.sqlite`);
  copyFileSync(file, copy);
  const db = new SQLite(copy, { readonly: true });
  try {
    const table = db.prepare("select 1 from sqlite_master where name = 'rows'").get();
    return table ? (db.prepare('select count(*) as n from rows').get() as { n: number }).n : 0;
  } finally {
    db.close();
  }
}

function insert(writer: SQLite.Database, count: number, size = 100): void {
  const statement = writer.prepare('insert into rows (body) values (?)');
  for (let i = 0; i < count; i++) statement.run('x'.repeat(size));
}

function autocheckpoint(writer: SQLite.Database): number {
  return writer.pragma('wal_autocheckpoint', { simple: true }) as number;
}

describe('background checkpoints', () => {
  it('turn the writer’s own checkpoints off, and the worker copies commits into the database file', async () => {
    const { writer, file, dir } = writerOnFreshFile();
    start(writer, file);
    expect(autocheckpoint(writer)).toBe(0);
    insert(writer, 50);
    await vi.waitFor(() => expect(rowsInDatabaseFile(file, dir)).toBe(50), { timeout: 5000 });
  });

  it('without them, the database file would not hold those commits (the check above can fail)', async () => {
    const { writer, file, dir } = writerOnFreshFile();
    writer.pragma('wal_autocheckpoint = 0');
    insert(writer, 50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(rowsInDatabaseFile(file, dir)).toBe(0);
  });

  it('keep the WAL file small: it restarts from its beginning after a complete checkpoint', async () => {
    const { writer, file } = writerOnFreshFile();
    start(writer, file);
    // About 36 MB of WAL pages, in bursts with pauses as a serving vault sees them.
    for (let burst = 0; burst < 30; burst++) {
      insert(writer, 100, 4000);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    // Without checkpoints the WAL file holds every page written.
    expect(statSync(`${file}-wal`).size).toBeLessThan(8 * 1024 * 1024);
  });

  it.each([
    { restart: true, walMb: (mb: number) => expect(mb).toBeLessThan(6) },
    // The control: with PASSIVE checkpoints alone the WAL holds nearly every page written.
    { restart: false, walMb: (mb: number) => expect(mb).toBeGreaterThan(12) },
  ])(
    'keep the WAL small under commits that never pause, by restarting it (restart: $restart)',
    async ({ restart, walMb }) => {
      const { writer, file } = writerOnFreshFile();
      start(writer, file, {
        restartFrames: restart ? 250 : Number.MAX_SAFE_INTEGER,
        maxWalFrames: Number.MAX_SAFE_INTEGER,
      });
      // About 24 MB of rows, a commit every millisecond or so for a few seconds.
      for (let i = 0; i < 3000; i++) {
        insert(writer, 2, 4000);
        await new Promise((resolve) => setImmediate(resolve));
        if (i % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      walMb(statSync(`${file}-wal`).size / 1024 / 1024);
    },
  );

  it('never hold writes back for a reader that keeps an older snapshot (no RESTART while one does)', async () => {
    const { writer, file } = writerOnFreshFile();
    writer.pragma('busy_timeout = 5000');
    start(writer, file, { restartFrames: 20, restartWaitMs: 50 });
    insert(writer, 50, 1000);
    const reader = new SQLite(file, { readonly: true });
    cleanups.push(() => reader.close());
    reader.exec('begin');
    reader.prepare('select count(*) from rows').get();
    // With the reader in, a RESTART every 10 ms would hold each write back for up to 50 ms.
    let writing = 0;
    const started = performance.now();
    while (performance.now() - started < 1500) {
      const before = performance.now();
      insert(writer, 1, 1000);
      writing += performance.now() - before;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    reader.exec('commit');
    expect(writing).toBeLessThan(300);
  });

  it('hand checkpoints back to the writer past maxWalFrames, and take them again after the WAL restarts', async () => {
    const { writer, file } = writerOnFreshFile();
    const notices: string[] = [];
    start(writer, file, {
      maxWalFrames: 40,
      onNotice: (event, reason) => notices.push(`${event}: ${reason}`),
    });
    // A reader holding a snapshot keeps the worker from finishing, so the WAL only grows.
    const reader = new SQLite(file, { readonly: true });
    cleanups.push(() => reader.close());
    reader.exec('begin');
    reader.prepare('select count(*) from rows').get();
    insert(writer, 100, 1000);
    await vi.waitFor(() => expect(autocheckpoint(writer)).toBe(1000), { timeout: 5000 });
    expect(notices).toEqual([
      expect.stringMatching(/^wal_checkpoints_inline: the WAL holds \d+ pages$/),
    ]);
    reader.exec('commit');
    await vi.waitFor(
      () => {
        insert(writer, 1);
        expect(autocheckpoint(writer)).toBe(0);
      },
      { timeout: 5000, interval: 20 },
    );
  });

  it('hand checkpoints back to the writer for good when the worker fails', async () => {
    const { writer, dir } = writerOnFreshFile();
    const notices: string[] = [];
    // The worker cannot open a file that does not exist.
    const checkpoints = start(writer, join(dir, 'missing.sqlite'), {
      onNotice: (event, reason) => notices.push(`${event}: ${reason}`),
    });
    await vi.waitFor(() => expect(autocheckpoint(writer)).toBe(1000), { timeout: 5000 });
    expect(notices).toEqual([expect.stringMatching(/^wal_checkpoints_inline: checkpoint worker/)]);
    await checkpoints.close();
  });

  it('close stops the worker, and may be called twice', async () => {
    const { writer, file } = writerOnFreshFile();
    const checkpoints = start(writer, file);
    await checkpoints.close();
    await checkpoints.close();
  });

  it('are what openDatabase starts when asked, on the connection that writes', async () => {
    const { dir } = writerOnFreshFile();
    const database = openDatabase(
      { kind: 'sqlite', file: join(dir, 'served.sqlite') },
      { backgroundCheckpoints: {} },
    );
    cleanups.push(() => database.close());
    const setting = await database.db
      .transaction()
      .execute((trx) =>
        sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(trx),
      );
    expect(setting.rows[0]?.wal_autocheckpoint).toBe(0);
  });
});
