import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  type Generated,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type SqliteStatement,
  type Transaction,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_GROUP_LIMITS,
  type GroupableSqliteDatabase,
  GroupedSqliteDriver,
  type GroupLimits,
} from './grouped-sqlite-driver.ts';
import type { WriteLock } from './write-lock.ts';

interface TestSchema {
  items: { id: Generated<number>; name: string };
}

/** Limits that never close a group: only "nobody is waiting" commits it. */
const UNLIMITED: GroupLimits = { maxTransactions: 10_000, maxOpenMs: 60_000 };

/**
 * The driver's narrow interface to better-sqlite3, passed straight through to a real database
 * (this is a seam, not a mock: every statement really runs). It counts the COMMITs that
 * succeeded, logs every statement that ran, can make the next COMMIT fail, and can run a hook
 * before any statement (to look at the file at that moment, or to simulate SQLite failing).
 */
class ObservedDatabase implements GroupableSqliteDatabase {
  commits = 0;
  readonly log: string[] = [];
  failNextCommit: Error | undefined;
  beforeStatement: ((sql: string, parameters: readonly unknown[]) => void) | undefined;

  constructor(readonly sqlite: SQLite.Database) {}

  get inTransaction(): boolean {
    return this.sqlite.inTransaction;
  }

  prepare(sql: string): SqliteStatement {
    const statement = this.sqlite.prepare(sql);
    const before = (parameters: readonly unknown[]) => {
      this.beforeStatement?.(sql, parameters);
      const failure = sql === 'commit' ? this.failNextCommit : undefined;
      if (failure) {
        this.failNextCommit = undefined;
        throw failure;
      }
    };
    return {
      reader: statement.reader,
      all: (parameters) => {
        before(parameters);
        const rows = statement.all(parameters);
        this.log.push(sql);
        return rows;
      },
      run: (parameters) => {
        before(parameters);
        const result = statement.run(parameters);
        if (sql === 'commit') this.commits += 1;
        this.log.push(sql);
        return result;
      },
      iterate: (parameters) => statement.iterate(parameters),
    };
  }

  close(): void {
    this.sqlite.close();
  }

  /** How many transactions (released savepoints) each COMMIT made durable, in order. */
  groupSizes(): number[] {
    const sizes: number[] = [];
    let released = 0;
    for (const sql of this.log) {
      if (sql === 'release webkey_unit') released += 1;
      if (sql === 'commit') {
        sizes.push(released);
        released = 0;
      }
    }
    return sizes;
  }
}

interface Fixture {
  db: Kysely<TestSchema>;
  seam: ObservedDatabase;
  sqlite: SQLite.Database;
  /** Names in the file as a second, independent connection sees them: committed work only. */
  committed(): string[];
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real SQLite file in WAL mode (as openDatabase sets it up) behind a grouping Kysely. */
function open(
  limits: GroupLimits = UNLIMITED,
  now?: () => number,
  { withReader = false, writeLock }: { withReader?: boolean; writeLock?: WriteLock } = {},
): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'webkey-grouped-'));
  const file = join(dir, 'vault.sqlite');
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.exec('create table items (id integer primary key, name text not null unique)');
  const seam = new ObservedDatabase(sqlite);
  const plainReader = withReader ? new SQLite(file) : undefined;
  const db = new Kysely<TestSchema>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () =>
        new GroupedSqliteDriver(seam, {
          limits,
          ...(now ? { now } : {}),
          ...(plainReader ? { reader: plainReader } : {}),
          ...(writeLock ? { writeLock } : {}),
        }),
      createIntrospector: (kysely) => new SqliteIntrospector(kysely),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  const reader = new SQLite(file, { readonly: true, fileMustExist: true });
  const names = reader.prepare('select name from items order by id').pluck();
  cleanups.push(async () => {
    await db.destroy().catch(() => undefined);
    if (sqlite.open) sqlite.close();
    if (plainReader?.open) plainReader.close();
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, seam, sqlite, committed: () => names.all() as string[] };
}

/** A transaction inserting one row, then running `rest` (if any) in the same transaction. */
function insert(
  db: Kysely<TestSchema>,
  name: string,
  rest?: (trx: Transaction<TestSchema>) => Promise<void>,
): Promise<void> {
  return db.transaction().execute(async (trx) => {
    await trx.insertInto('items').values({ name }).execute();
    await rest?.(trx);
  });
}

function names(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/** A promise opened from outside, to hold a connection at a known point. */
function gate(): { open(): void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('GroupedSqliteDriver', () => {
  // Guards against grouping being a no-op (one COMMIT per transaction) or losing rows on the way.
  it('commits 50 concurrent transactions with fewer COMMITs than transactions', async () => {
    const { db, seam, committed } = open(DEFAULT_GROUP_LIMITS);
    const expected = names('row', 50);
    await Promise.all(expected.map((name) => insert(db, name)));
    expect(committed().sort()).toEqual([...expected].sort());
    expect(seam.commits).toBeGreaterThanOrEqual(1);
    expect(seam.commits).toBeLessThan(50);
  });

  // Guards against a queue that only drains at limits: with limits that never close a group,
  // 50 queued transactions form one group, and the last one commits it because nobody waits.
  it('forms a single group while transactions keep queuing', async () => {
    const { db, seam, committed } = open(UNLIMITED, () => 0);
    await Promise.all(names('row', 50).map((name) => insert(db, name)));
    expect(committed()).toHaveLength(50);
    expect(seam.commits).toBe(1);
    expect(seam.groupSizes()).toEqual([50]);
  });

  // Guards against a lone transaction waiting for company (or for a timer): the clock is frozen
  // and the limits are out of reach, so only "nobody waits" can commit it, at once.
  it('commits a lone transaction on its own', async () => {
    const { db, seam, sqlite, committed } = open(UNLIMITED, () => 0);
    await insert(db, 'alone');
    expect(seam.commits).toBe(1);
    expect(sqlite.inTransaction).toBe(false);
    expect(committed()).toEqual(['alone']);
  });

  // Guards against acknowledging a transaction before its group is durable in the file: at the
  // moment each promise resolves, a COMMIT has run since its body, and its row is committed.
  it('resolves each transaction only after its group committed', async () => {
    const { db, seam, committed } = open({ maxTransactions: 4, maxOpenMs: 60_000 }, () => 0);
    const observed = await Promise.all(
      names('row', 30).map(async (name) => {
        let commitsInBody = -1;
        await insert(db, name, async () => {
          commitsInBody = seam.commits;
        });
        return {
          commitsInBody,
          commitsAtResolve: seam.commits,
          visible: committed().includes(name),
        };
      }),
    );
    expect(seam.commits).toBeGreaterThan(1);
    for (const { commitsInBody, commitsAtResolve, visible } of observed) {
      expect(commitsInBody).toBeGreaterThanOrEqual(0);
      expect(commitsAtResolve).toBeGreaterThan(commitsInBody);
      expect(visible).toBe(true);
    }
  });

  // Guards against one failing transaction dragging its group down (or surviving): it is rolled
  // back to its savepoint alone, its caller gets its own error, the group commits the rest.
  it('rolls back a throwing transaction alone inside its group', async () => {
    const { db, seam, committed } = open();
    const failure = new Error('the callback gave up');
    const results = await Promise.allSettled(
      names('row', 5).map((name, i) =>
        insert(db, name, async () => {
          if (i === 2) throw failure;
        }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(results[2]).toEqual({ status: 'rejected', reason: failure });
    expect(committed()).toEqual(['row0', 'row1', 'row3', 'row4']);
    expect(seam.commits).toBe(1);
  });

  // Guards against a failed statement poisoning a transaction that handled it: SQLite undoes
  // only the statement, and the transaction (and its group) commits everything else.
  it('commits a transaction that caught a unique violation and went on', async () => {
    const { db, seam, committed } = open();
    await insert(db, 'taken');
    let caught: unknown;
    await Promise.all([
      insert(db, 'a'),
      insert(db, 'b-before', async (trx) => {
        try {
          await trx.insertInto('items').values({ name: 'taken' }).execute();
        } catch (error) {
          caught = error;
        }
        await trx.insertInto('items').values({ name: 'b-after' }).execute();
      }),
      insert(db, 'c'),
    ]);
    expect(caught).toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(committed()).toEqual(['taken', 'a', 'b-before', 'b-after', 'c']);
    expect(seam.commits).toBe(2);
  });

  // Guards against reporting success for work that never reached the file: when the group's
  // COMMIT fails, every transaction in it fails, nothing is left behind, and the next work runs.
  it('fails every transaction of a group whose COMMIT fails, then recovers', async () => {
    const { db, seam, sqlite, committed } = open();
    const failure = new Error('simulated: disk I/O error during COMMIT');
    seam.failNextCommit = failure;
    const results = await Promise.allSettled(names('lost', 5).map((name) => insert(db, name)));
    expect(results).toEqual(results.map(() => ({ status: 'rejected', reason: failure })));
    expect(seam.commits).toBe(0);
    expect(sqlite.inTransaction).toBe(false);
    expect(committed()).toEqual([]);

    await Promise.all(names('later', 3).map((name) => insert(db, name)));
    expect(committed()).toEqual(['later0', 'later1', 'later2']);
    expect(seam.commits).toBe(1);
  });

  // Guards against a plain read running inside an open group (seeing work not yet committed, or
  // holding it back): the group commits first, then the read runs outside any transaction.
  it('commits the open group before a statement outside a transaction', async () => {
    const { db, seam, sqlite, committed } = open();
    const atRead: Array<{ commits: number; inTransaction: boolean; committed: string[] }> = [];
    seam.beforeStatement = (sql) => {
      if (sql.startsWith('select')) {
        atRead.push({
          commits: seam.commits,
          inTransaction: sqlite.inTransaction,
          committed: committed(),
        });
      }
    };
    const first = names('a', 5).map((name) => insert(db, name));
    const read = db.selectFrom('items').select('name').orderBy('id').execute();
    const later = names('b', 3).map((name) => insert(db, name));
    await Promise.all([...first, read, ...later]);

    expect((await read).map((row) => row.name)).toEqual(names('a', 5));
    expect(atRead).toEqual([{ commits: 1, inTransaction: false, committed: names('a', 5) }]);
    expect(seam.groupSizes()).toEqual([5, 3]);
    expect(committed()).toEqual([...names('a', 5), ...names('b', 3)]);
  });

  // Guards against plain reads holding groups back or seeing uncommitted work, given a reader
  // connection: they run there, beside the open group, and see committed rows only. (Without a
  // reader, such a read from inside a transaction's body would wait for that transaction forever.)
  it('runs plain reads on the reader connection, beside an open group, seeing committed rows only', async () => {
    const { db, seam, committed } = open(UNLIMITED, undefined, { withReader: true });
    await insert(db, 'before');
    let seen: string[] = [];
    const group = [
      ...names('a', 2).map((name) => insert(db, name)),
      insert(db, 'reading', async () => {
        seen = (await db.selectFrom('items').select('name').orderBy('id').execute()).map(
          (row) => row.name,
        );
      }),
      ...names('b', 2).map((name) => insert(db, name)),
    ];
    await Promise.all(group);
    expect(seen).toEqual(['before']);
    expect(seam.groupSizes()).toEqual([1, 5]);
    expect(committed()).toEqual(['before', 'a0', 'a1', 'reading', 'b0', 'b1']);
  });

  // Guards against a plain write joining an open group (it would be answered before it commits).
  it('commits the open group before a plain write, even with a reader connection', async () => {
    const { db, seam, committed } = open(UNLIMITED, undefined, { withReader: true });
    const first = names('a', 3).map((name) => insert(db, name));
    const write = db.insertInto('items').values({ name: 'plain' }).execute();
    const later = names('b', 2).map((name) => insert(db, name));
    await Promise.all([...first, write, ...later]);
    expect(seam.groupSizes()).toEqual([3, 2]);
    expect(committed()).toEqual(['a0', 'a1', 'a2', 'plain', 'b0', 'b1']);
  });

  // Guards against groups growing without bound while a queue keeps the connection busy.
  describe('limits', () => {
    it('commits after maxTransactions', async () => {
      const { db, seam, committed } = open({ maxTransactions: 3, maxOpenMs: 1000 });
      await Promise.all(names('row', 10).map((name) => insert(db, name)));
      expect(committed()).toHaveLength(10);
      expect(seam.commits).toBeGreaterThanOrEqual(4);
      expect(Math.max(...seam.groupSizes())).toBeLessThanOrEqual(3);
    });

    it('commits each transaction alone with maxTransactions 1', async () => {
      const { db, seam, committed } = open({ maxTransactions: 1, maxOpenMs: 1000 });
      await Promise.all(names('row', 10).map((name) => insert(db, name)));
      expect(committed()).toHaveLength(10);
      expect(seam.commits).toBe(10);
      expect(seam.groupSizes()).toEqual(Array(10).fill(1));
    });

    it('commits once a group has been open maxOpenMs', async () => {
      // Each transaction takes 10 ms on the driver's clock: the third one finds the group 30 ms
      // old (past 25 ms) and commits it.
      let clock = 0;
      const { db, seam, committed } = open({ maxTransactions: 10_000, maxOpenMs: 25 }, () => clock);
      await Promise.all(
        names('row', 9).map((name) =>
          insert(db, name, async () => {
            clock += 10;
          }),
        ),
      );
      expect(committed()).toHaveLength(9);
      expect(seam.groupSizes()).toEqual([3, 3, 3]);
    });
  });

  // Guards against barging or LIFO hand-off: the single connection goes to transactions and
  // plain connection users strictly in arrival order.
  it('hands the connection over first come, first served', async () => {
    const { db, committed } = open();
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 4 === 3
          ? db.connection().execute(async (connection) => {
              // A plain write takes the writer connection, in turn, and holds it until released.
              await connection
                .insertInto('items')
                .values({ name: `plain${i}` })
                .execute();
              order.push(i);
            })
          : db.transaction().execute(async (trx) => {
              order.push(i);
              await trx
                .insertInto('items')
                .values({ name: `row${i}` })
                .execute();
            }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(committed()).toHaveLength(20);
  });

  // Guards against a group half lost to SQLite's own rollback (disk full, I/O error) being
  // reported as committed, or a later savepoint running without BEGIN: the whole group fails,
  // and the next transaction starts afresh. Simulated by really rolling the underlying database
  // back and then throwing, as SQLite does; inTransaction then truthfully reports false.
  it('fails the whole group when SQLite rolls the transaction back itself, then recovers', async () => {
    const { db, seam, sqlite, committed } = open();
    const failure = Object.assign(new Error('simulated: database or disk is full'), {
      code: 'SQLITE_FULL',
    });
    seam.beforeStatement = (_sql, parameters) => {
      if (parameters.includes('poison')) {
        sqlite.exec('rollback');
        throw failure;
      }
    };
    const group = [...names('row', 3), 'poison'].map((name) => insert(db, name));
    const after = insert(db, 'after');
    const results = await Promise.allSettled(group);
    expect(results).toEqual(results.map(() => ({ status: 'rejected', reason: failure })));
    await after;
    expect(committed()).toEqual(['after']);

    await insert(db, 'again');
    expect(committed()).toEqual(['after', 'again']);
    expect(sqlite.inTransaction).toBe(false);
  });

  // Guards against shutdown dropping transactions whose callers wait for their group's commit.
  it('commits an open group on destroy', async () => {
    const { db, seam, committed } = open();
    const reached = gate();
    const held = gate();
    const finished = names('row', 2).map((name) => insert(db, name));
    // A transaction queued behind them keeps the group open while it runs.
    const holder = db.transaction().execute(async () => {
      reached.open();
      await held.opened;
    });
    await reached.opened;
    expect(seam.commits).toBe(0);
    expect(committed()).toEqual([]);

    await db.destroy();
    await Promise.all(finished);
    expect(seam.commits).toBe(1);
    expect(committed()).toEqual(['row0', 'row1']);
    held.open();
    // The still-running transaction cannot finish on a closed database.
    await expect(holder).rejects.toThrow();
  });

  // Guards against destroy() committing half of a transaction still running inside the open
  // group (its caller is told it failed): the finished members commit, the unfinished one is
  // rolled back to its savepoint first, as closing Kysely's own SqliteDriver would roll it back.
  it('does not commit a transaction still running when destroy() is called', async () => {
    const { db, committed } = open();
    const reached = gate();
    const held = gate();
    const finished = insert(db, 'finished');
    const running = insert(db, 'half', async (trx) => {
      reached.open();
      await held.opened;
      await trx.insertInto('items').values({ name: 'other-half' }).execute();
    });
    await reached.opened;

    await db.destroy();
    held.open();
    await finished;
    await expect(running).rejects.toThrow();
    expect(committed()).toEqual(['finished']);
  });

  describe('with a write lock shared by processes', () => {
    /** A lock that writes its steps into the statement log, and can be held from outside. */
    function recordingLock(log: string[]) {
      let busy: Promise<void> | undefined;
      const lock: WriteLock & { holdFromOutside(): () => void } = {
        acquire: async () => {
          await busy;
          log.push('lock acquired');
        },
        release: () => log.push('lock released'),
        holdFromOutside: () => {
          const { open, opened } = gate();
          busy = opened;
          return () => {
            busy = undefined;
            open();
          };
        },
      };
      return lock;
    }

    // Guards against writing without the lock, or keeping it after the group is done.
    it('takes the lock before BEGIN and lets go after the group COMMIT', async () => {
      const log: string[] = [];
      const lock = recordingLock(log);
      const { db, seam, committed } = open(UNLIMITED, () => 0, { writeLock: lock });
      seam.log.push = (...items) => log.push(...items);
      await Promise.all(names('row', 3).map((name) => insert(db, name)));
      expect(committed()).toHaveLength(3);
      expect(log[0]).toBe('lock acquired');
      expect(log[1]).toBe('begin immediate');
      expect(log.slice(-2)).toEqual(['commit', 'lock released']);
      expect(log.filter((line) => line.startsWith('lock'))).toEqual([
        'lock acquired',
        'lock released',
      ]);
    });

    // Guards against a process starting to write while another holds the lock.
    it('waits for the lock before it begins', async () => {
      const log: string[] = [];
      const lock = recordingLock(log);
      const { db, seam, committed } = open(UNLIMITED, () => 0, { writeLock: lock });
      seam.log.push = (...items) => log.push(...items);
      const letGo = lock.holdFromOutside();
      const writing = insert(db, 'later');
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(log).toEqual([]);
      expect(committed()).toEqual([]);
      letGo();
      await writing;
      expect(committed()).toEqual(['later']);
    });

    // Guards against a plain write (outside a transaction) bypassing the lock.
    it('takes the lock around a plain write', async () => {
      const log: string[] = [];
      const { db, seam } = open(UNLIMITED, () => 0, { writeLock: recordingLock(log) });
      seam.log.push = (...items) => log.push(...items);
      await db.insertInto('items').values({ name: 'plain' }).execute();
      expect(log).toEqual([
        'lock acquired',
        'insert into "items" ("name") values (?)',
        'lock released',
      ]);
    });

    // Guards against a failed COMMIT or a failed BEGIN keeping the lock forever.
    it('lets go of the lock when the group COMMIT fails, and when BEGIN fails', async () => {
      const log: string[] = [];
      const { db, seam } = open(UNLIMITED, () => 0, { writeLock: recordingLock(log) });
      seam.failNextCommit = new Error('simulated: disk I/O error during COMMIT');
      await expect(insert(db, 'lost')).rejects.toThrow('simulated');
      expect(log.filter((line) => line.startsWith('lock'))).toEqual([
        'lock acquired',
        'lock released',
      ]);
      log.length = 0;
      seam.beforeStatement = (sql) => {
        if (sql === 'begin immediate') throw new Error('simulated: database is locked');
      };
      await expect(insert(db, 'refused')).rejects.toThrow('database is locked');
      expect(log).toEqual(['lock acquired', 'lock released']);
    });
  });
});
