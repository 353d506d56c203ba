import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestStorage, TEST_ENGINES } from '../testing/test-vault.ts';
import type { AssertionJtisTable } from '../webkeys/webkeys.table.ts';
import { openDatabase } from './database.ts';
import { migrateToLatest } from './migrate.ts';
import { preparedQuery, type Slots } from './prepared.ts';
import type { Database, Engine } from './schema.ts';

/** A migrated database on fresh storage; dispose closes it and deletes the storage. */
interface MigratedDb {
  db: Kysely<Database>;
  dispose(): Promise<void>;
}

async function openMigrated(engine: Engine): Promise<MigratedDb> {
  const storage = await createTestStorage(engine);
  const { db, close } = openDatabase(storage.database);
  const dispose = async () => {
    await close();
    await storage.dispose();
  };
  try {
    await migrateToLatest(db, engine);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { db, dispose };
}

type Jti = AssertionJtisTable;

const HOSTILE = "x' or '1'='1";

const insertJti = preparedQuery<Jti, never>((db, p) =>
  db
    .insertInto('assertion_jtis')
    .values({ vendor_id: p.vendor_id, jti: p.jti, expires_at: p.expires_at }),
);

const jtisOfVendor = preparedQuery<{ vendorId: string }, Pick<Jti, 'jti'>>((db, p) =>
  db.selectFrom('assertion_jtis').select('jti').where('vendor_id', '=', p.vendorId).orderBy('jti'),
);

const jtiByName = preparedQuery<{ jti: string }, Jti>((db, p) =>
  db.selectFrom('assertion_jtis').selectAll().where('jti', '=', p.jti),
);

/** Every row, read without a prepared query. */
function allJtis(db: Kysely<Database>): Promise<Jti[]> {
  return db.selectFrom('assertion_jtis').selectAll().orderBy('vendor_id').orderBy('jti').execute();
}

function seed(db: Kysely<Database>, rows: Jti[]): Promise<unknown> {
  return db.insertInto('assertion_jtis').values(rows).execute();
}

describe.each(TEST_ENGINES)('preparedQuery on %s', (engine) => {
  let t: MigratedDb;
  beforeEach(async () => {
    t = await openMigrated(engine);
  });
  afterEach(async () => {
    await t.dispose();
  });

  describe('binds values per run', () => {
    it('a select returns the rows of each run’s value', async () => {
      await seed(t.db, [
        { vendor_id: 'vendor-a', jti: 'a1', expires_at: 1 },
        { vendor_id: 'vendor-a', jti: 'a2', expires_at: 2 },
        { vendor_id: 'vendor-b', jti: 'b1', expires_at: 3 },
      ]);
      const jtis = async (vendorId: string) =>
        (await jtisOfVendor.run(t.db, { vendorId })).rows.map((row) => row.jti);
      expect(await jtis('vendor-a')).toEqual(['a1', 'a2']);
      expect(await jtis('vendor-b')).toEqual(['b1']);
      expect(await jtis('vendor-c')).toEqual([]);
      expect(await jtis('vendor-a')).toEqual(['a1', 'a2']);
    });

    it('an insert stores exactly the values of each run', async () => {
      await insertJti.run(t.db, { vendor_id: 'vendor-a', jti: 'first', expires_at: 1_000 });
      await insertJti.run(t.db, { vendor_id: 'vendor-b', jti: 'second', expires_at: 2_000 });
      expect(await allJtis(t.db)).toEqual([
        { vendor_id: 'vendor-a', jti: 'first', expires_at: 1_000 },
        { vendor_id: 'vendor-b', jti: 'second', expires_at: 2_000 },
      ]);
    });

    it('an update … returning returns the updated row, binding a value used twice', async () => {
      // Extends an expiry, never shortens it: expiresAt is bound in SET and in WHERE.
      const extend = preparedQuery<{ vendorId: string; jti: string; expiresAt: number }, Jti>(
        (db, p) =>
          db
            .updateTable('assertion_jtis')
            .set({ expires_at: p.expiresAt })
            .where('vendor_id', '=', p.vendorId)
            .where('jti', '=', p.jti)
            .where('expires_at', '<', p.expiresAt)
            .returningAll(),
      );
      await seed(t.db, [
        { vendor_id: 'vendor-a', jti: 'one', expires_at: 100 },
        { vendor_id: 'vendor-a', jti: 'two', expires_at: 100 },
      ]);
      const extended = await extend.run(t.db, { vendorId: 'vendor-a', jti: 'one', expiresAt: 500 });
      expect(extended.rows).toEqual([{ vendor_id: 'vendor-a', jti: 'one', expires_at: 500 }]);
      const shortened = await extend.run(t.db, {
        vendorId: 'vendor-a',
        jti: 'one',
        expiresAt: 200,
      });
      expect(shortened.rows).toEqual([]);
      const other = await extend.run(t.db, { vendorId: 'vendor-a', jti: 'two', expiresAt: 300 });
      expect(other.rows).toEqual([{ vendor_id: 'vendor-a', jti: 'two', expires_at: 300 }]);
      expect(await allJtis(t.db)).toEqual([
        { vendor_id: 'vendor-a', jti: 'one', expires_at: 500 },
        { vendor_id: 'vendor-a', jti: 'two', expires_at: 300 },
      ]);
    });
  });

  it('keeps constants written in at build time, between and around the parameters', async () => {
    // Parameters in order: 1000 (constant), vendorId (slot), 'gone' (constant), 1 (limit).
    const soonestLive = preparedQuery<{ vendorId: string }, Jti>((db, p) =>
      db
        .selectFrom('assertion_jtis')
        .selectAll()
        .where('expires_at', '>', 1_000)
        .where('vendor_id', '=', p.vendorId)
        .where('jti', '!=', 'gone')
        .orderBy('expires_at')
        .limit(1),
    );
    await seed(t.db, [
      { vendor_id: 'vendor-a', jti: 'expired', expires_at: 500 },
      { vendor_id: 'vendor-a', jti: 'gone', expires_at: 1_500 },
      { vendor_id: 'vendor-a', jti: 'soonest', expires_at: 2_000 },
      { vendor_id: 'vendor-a', jti: 'later', expires_at: 3_000 },
      { vendor_id: 'vendor-b', jti: 'only', expires_at: 4_000 },
      { vendor_id: 'vendor-b', jti: 'another', expires_at: 5_000 },
    ]);
    for (let round = 0; round < 2; round++) {
      const a = await soonestLive.run(t.db, { vendorId: 'vendor-a' });
      expect(a.rows).toEqual([{ vendor_id: 'vendor-a', jti: 'soonest', expires_at: 2_000 }]);
      const b = await soonestLive.run(t.db, { vendorId: 'vendor-b' });
      expect(b.rows).toEqual([{ vendor_id: 'vendor-b', jti: 'only', expires_at: 4_000 }]);
    }
  });

  describe('treats values that look like SQL as data', () => {
    it('matches nothing with a quote-breaking value', async () => {
      await seed(t.db, [
        { vendor_id: 'vendor-a', jti: 'a1', expires_at: 1 },
        { vendor_id: 'vendor-b', jti: 'b1', expires_at: 2 },
      ]);
      expect((await jtisOfVendor.run(t.db, { vendorId: HOSTILE })).rows).toEqual([]);
      expect((await jtiByName.run(t.db, { jti: HOSTILE })).rows).toEqual([]);
    });

    it('stores such values verbatim and finds them by exact match only', async () => {
      const dropper = "x'); drop table assertion_jtis; --";
      await insertJti.run(t.db, { vendor_id: HOSTILE, jti: dropper, expires_at: 7 });
      await insertJti.run(t.db, { vendor_id: 'vendor-a', jti: 'plain', expires_at: 8 });
      expect(await allJtis(t.db)).toEqual([
        { vendor_id: 'vendor-a', jti: 'plain', expires_at: 8 },
        { vendor_id: HOSTILE, jti: dropper, expires_at: 7 },
      ]);
      expect((await jtiByName.run(t.db, { jti: dropper })).rows).toEqual([
        { vendor_id: HOSTILE, jti: dropper, expires_at: 7 },
      ]);
      expect((await jtisOfVendor.run(t.db, { vendorId: HOSTILE })).rows).toEqual([
        { jti: dropper },
      ]);
    });
  });

  describe('in a transaction', () => {
    it('runs on the transaction and commits with it', async () => {
      const seen = await t.db.transaction().execute(async (trx) => {
        await insertJti.run(trx, { vendor_id: 'vendor-a', jti: 'in-trx', expires_at: 9 });
        return (await jtiByName.run(trx, { jti: 'in-trx' })).rows;
      });
      expect(seen).toEqual([{ vendor_id: 'vendor-a', jti: 'in-trx', expires_at: 9 }]);
      expect(await allJtis(t.db)).toEqual(seen);
    });

    it('is undone by a rollback', async () => {
      await insertJti.run(t.db, { vendor_id: 'vendor-a', jti: 'before', expires_at: 1 });
      const rolledBack = t.db.transaction().execute(async (trx) => {
        await insertJti.run(trx, { vendor_id: 'vendor-a', jti: 'undone', expires_at: 2 });
        expect((await jtisOfVendor.run(trx, { vendorId: 'vendor-a' })).rows).toEqual([
          { jti: 'before' },
          { jti: 'undone' },
        ]);
        throw new Error('roll back');
      });
      await expect(rolledBack).rejects.toThrow('roll back');
      expect(await allJtis(t.db)).toEqual([
        { vendor_id: 'vendor-a', jti: 'before', expires_at: 1 },
      ]);
      expect((await jtiByName.run(t.db, { jti: 'undone' })).rows).toEqual([]);
    });
  });

  it('refuses a run missing a parameter value, naming it, and stores nothing', async () => {
    const missing = { vendor_id: 'vendor-a', jti: 'no-expiry' } as Jti;
    await expect(async () => insertJti.run(t.db, missing)).rejects.toThrow(
      /no value for expires_at/,
    );
    await expect(
      t.db.transaction().execute(async (trx) => {
        await insertJti.run(trx, { vendor_id: 'vendor-a', jti: 'complete', expires_at: 1 });
        await insertJti.run(trx, missing);
      }),
    ).rejects.toThrow(/no value for expires_at/);
    expect(await allJtis(t.db)).toEqual([]);
    // The failed runs leave the query usable.
    await insertJti.run(t.db, { vendor_id: 'vendor-a', jti: 'after', expires_at: 2 });
    expect(await allJtis(t.db)).toEqual([{ vendor_id: 'vendor-a', jti: 'after', expires_at: 2 }]);
  });

  it('refuses a value that is only inherited or undefined, as missing', async () => {
    const byName = preparedQuery<{ toString: string }, Jti>((db, p) =>
      db.selectFrom('assertion_jtis').selectAll().where('jti', '=', p.toString),
    );
    await expect(byName.run(t.db, {} as { toString: string })).rejects.toThrow(
      /no value for toString/,
    );
    await expect(
      insertJti.run(t.db, { vendor_id: 'vendor-a', jti: 'u', expires_at: undefined! }),
    ).rejects.toThrow(/no value for expires_at/);
    expect(await allJtis(t.db)).toEqual([]);
  });

  it('refuses a handle with plugins (its compiled SQL would be another handle’s)', async () => {
    await expect(jtiByName.run(t.db.withSchema('elsewhere'), { jti: 'a' })).rejects.toThrow(
      /plugins are not supported/,
    );
  });

  it('builds and compiles once, however often and through whatever transaction it runs', async () => {
    type P = { vendorId: string };
    const build = vi.fn((db: Kysely<Database>, p: Slots<P>) =>
      db.selectFrom('assertion_jtis').select('jti').where('vendor_id', '=', p.vendorId),
    );
    const byVendor = preparedQuery<P, Pick<Jti, 'jti'>>(build);
    await seed(t.db, [
      { vendor_id: 'vendor-a', jti: 'a1', expires_at: 1 },
      { vendor_id: 'vendor-b', jti: 'b1', expires_at: 2 },
    ]);
    const jtis = async (db: Parameters<typeof byVendor.run>[0], vendorId: string) =>
      (await byVendor.run(db, { vendorId })).rows.map((row) => row.jti);

    expect(await jtis(t.db, 'vendor-a')).toEqual(['a1']);
    expect(await jtis(t.db, 'vendor-b')).toEqual(['b1']);
    expect(
      await t.db
        .transaction()
        .execute(async (trx) => [await jtis(trx, 'vendor-a'), await jtis(trx, 'vendor-b')]),
    ).toEqual([['a1'], ['b1']]);
    await expect(
      t.db.transaction().execute(async (trx) => {
        expect(await jtis(trx, 'vendor-a')).toEqual(['a1']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await jtis(t.db, 'vendor-c')).toEqual([]);
    expect(build).toHaveBeenCalledTimes(1);
  });
});

describe.runIf(TEST_ENGINES.length > 1)('preparedQuery across engines', () => {
  it('compiles once for each dialect and runs each engine its own SQL', async () => {
    const build = vi.fn((db: Kysely<Database>, p: Slots<{ jti: string }>) =>
      db.selectFrom('assertion_jtis').selectAll().where('jti', '=', p.jti),
    );
    const byJti = preparedQuery<{ jti: string }, Jti>(build);
    const opened: MigratedDb[] = [];
    try {
      for (const engine of TEST_ENGINES) opened.push(await openMigrated(engine));
      for (const [i, { db }] of opened.entries()) {
        await seed(db, [{ vendor_id: `vendor-${i}`, jti: 'shared', expires_at: i }]);
      }
      for (let round = 0; round < 2; round++) {
        for (const [i, { db }] of opened.entries()) {
          expect((await byJti.run(db, { jti: 'shared' })).rows).toEqual([
            { vendor_id: `vendor-${i}`, jti: 'shared', expires_at: i },
          ]);
        }
      }
      expect(build).toHaveBeenCalledTimes(TEST_ENGINES.length);
    } finally {
      for (const { dispose } of opened) await dispose();
    }
  });
});
