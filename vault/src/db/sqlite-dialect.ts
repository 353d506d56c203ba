import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';

/**
 * Kysely's SQLite dialect with write transactions opened by `BEGIN IMMEDIATE`. Kysely opens them
 * with a deferred `BEGIN`, which takes the write lock only at the first write; with several
 * processes on one file, a transaction that read first then fails with SQLITE_BUSY instead of
 * waiting. IMMEDIATE takes the lock up front, so the busy timeout applies and writers queue.
 * Migrations run in such a transaction too (SQLite DDL is transactional; Kysely assumes not),
 * which serializes them across processes where Kysely's SQLite migration lock is a no-op.
 *
 * @example
 * new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: new SQLite(file) }) });
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
