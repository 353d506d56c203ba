import {
  type DialectAdapter,
  type Driver,
  SqliteAdapter,
  SqliteDialect,
  type SqliteStatement,
} from 'kysely';
import { type GroupableSqliteDatabase, GroupedSqliteDriver } from './grouped-sqlite-driver.ts';
import type { WriteLock } from './write-lock.ts';

/**
 * Kysely's SQLite dialect with write transactions opened by `BEGIN IMMEDIATE`. Kysely opens them
 * with a deferred `BEGIN`, which takes the write lock only at the first write; with several
 * processes on one file, a transaction that read first then fails with SQLITE_BUSY instead of
 * waiting. IMMEDIATE takes the lock up front, so the busy timeout applies and writers queue.
 * Migrations run in such a transaction too (SQLite DDL is transactional; Kysely assumes not),
 * which serializes them across processes where Kysely's SQLite migration lock is a no-op.
 * Transactions that queue for the connection commit in groups (see GroupedSqliteDriver).
 *
 * @example
 * new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: writer, reader }) });
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: GroupableSqliteDatabase;
  readonly #reader: GroupableSqliteDatabase | undefined;
  readonly #writeLock: WriteLock | undefined;

  constructor(config: {
    database: GroupableSqliteDatabase;
    reader?: GroupableSqliteDatabase;
    writeLock?: WriteLock;
  }) {
    const cached = withStatementCache(config.database);
    super({ database: cached });
    this.#database = cached;
    this.#reader = config.reader && withStatementCache(config.reader);
    this.#writeLock = config.writeLock;
  }

  override createDriver(): Driver {
    return new GroupedSqliteDriver(this.#database, {
      ...(this.#reader ? { reader: this.#reader } : {}),
      ...(this.#writeLock ? { writeLock: this.#writeLock } : {}),
    });
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Statements kept prepared; the vault issues a few dozen distinct queries. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing is a large share of a short query's cost. This
 * keeps prepared statements by SQL text (least recently used out first). Safe because the
 * connection runs one query at a time and Kysely never keeps an iterator open across queries.
 */
function withStatementCache(database: GroupableSqliteDatabase): GroupableSqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    get inTransaction() {
      return database.inTransaction;
    },
    close: () => {
      statements.clear();
      database.close();
    },
    prepare: (sql) => {
      let statement = statements.get(sql);
      if (statement) {
        statements.delete(sql);
      } else {
        statement = database.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE)
          statements.delete(statements.keys().next().value!);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
