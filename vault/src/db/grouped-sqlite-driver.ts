import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  QueryResult,
  SqliteStatement,
} from 'kysely';

/** The slice of better-sqlite3 the driver uses (it also needs to know if SQLite rolled back). */
export interface GroupableSqliteDatabase {
  prepare(sql: string): SqliteStatement;
  close(): void;
  readonly inTransaction: boolean;
}

/** Bounds of one group of transactions committed together. */
export interface GroupLimits {
  /** Most transactions in one group. */
  maxTransactions: number;
  /** Longest a group stays open (ms) before the next transaction to finish commits it. */
  maxOpenMs: number;
}

export const DEFAULT_GROUP_LIMITS: GroupLimits = { maxTransactions: 64, maxOpenMs: 5 };

const UNIT = 'webkey_unit';

interface Group {
  transactions: number;
  openedAt: number;
  done: Promise<void>;
  settle(error?: unknown): void;
}

function newGroup(now: number): Group {
  let settle!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Nobody may be waiting on a group that fails; that must not be an unhandled rejection.
  done.catch(() => undefined);
  return { transactions: 0, openedAt: now, done, settle };
}

/** One holder of the connection, from acquireConnection to releaseConnection. */
class Lease implements DatabaseConnection {
  inTransaction = false;
  released = false;

  constructor(private readonly driver: GroupedSqliteDriver) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.execute<R>(this, query);
  }

  // biome-ignore lint/correctness/useYield: streaming is refused outright.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the vault does not stream SQLite queries');
  }
}

/**
 * Kysely's SQLite driver, with write transactions committed in groups. SQLite runs one writer at
 * a time, so transactions already run one after another on the single connection; when others
 * are waiting for the connection, a finished transaction does not commit on its own but is
 * released as a savepoint inside one IMMEDIATE transaction that the next ones join, and the
 * group commits when nobody is waiting (or it reaches its limits). Each COMMIT writes every
 * page it changed to the WAL, so a group writes a hot page (an index leaf, a customer's audit
 * chain) once instead of once per transaction.
 *
 * Every transaction still sees exactly the committed work of those before it, and its caller
 * hears of its success only once its group has committed: a failed group commit fails every
 * transaction in it. A statement outside a transaction never runs inside an open group: the
 * group commits first, so plain reads never see uncommitted work. The connection goes to
 * waiters first come, first served.
 *
 * @example
 * new Kysely<Database>({ dialect: { ...sqliteParts, createDriver: () => new GroupedSqliteDriver(db) } });
 */
export class GroupedSqliteDriver implements Driver {
  readonly #waiters: Array<() => void> = [];
  #held = false;
  #group: Group | undefined;

  constructor(
    private readonly db: GroupableSqliteDatabase,
    private readonly limits: GroupLimits = DEFAULT_GROUP_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#held) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#held = true;
    return new Lease(this);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    if (!this.#group) {
      // IMMEDIATE takes the write lock now, so other processes' busy timeout applies.
      this.#run('begin immediate');
      this.#group = newGroup(this.now());
    }
    this.#run(`savepoint ${UNIT}`);
    lease.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    this.#run(`release ${UNIT}`);
    lease.inTransaction = false;
    const group = this.#group!;
    group.transactions += 1;
    if (this.#shouldCommit(group)) {
      this.#commitGroup();
    } else {
      // Let the next transaction in; this one's caller waits for the group's commit.
      this.#release(lease);
    }
    await group.done;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    // Nothing to undo once the savepoint was released (the group commit failed instead).
    if (!lease.inTransaction) return;
    lease.inTransaction = false;
    if (!this.db.inTransaction) {
      this.#abandonGroup(new Error('SQLite rolled the transaction back'));
      return;
    }
    this.#run(`rollback to ${UNIT}`);
    this.#run(`release ${UNIT}`);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    if (lease.released) return;
    const group = this.#group;
    if (group && this.#shouldCommit(group)) this.#commitGroup();
    this.#release(lease);
  }

  async destroy(): Promise<void> {
    if (this.#group) this.#commitGroup();
    this.db.close();
  }

  /** Runs one statement for a lease; see Lease.executeQuery. */
  execute<R>(lease: Lease, query: CompiledQuery): Promise<QueryResult<R>> {
    // A statement outside a transaction must neither see nor join uncommitted work.
    if (!lease.inTransaction && this.#group) this.#commitGroup();
    try {
      return Promise.resolve(this.#statement<R>(query));
    } catch (error) {
      // Some errors (I/O, disk full) make SQLite roll back the whole transaction: the group is lost.
      if (this.#group && !this.db.inTransaction) this.#abandonGroup(error);
      return Promise.reject(error);
    }
  }

  #shouldCommit(group: Group): boolean {
    return (
      this.#waiters.length === 0 ||
      group.transactions >= this.limits.maxTransactions ||
      this.now() - group.openedAt >= this.limits.maxOpenMs
    );
  }

  /** Commits the open group and settles it; never throws (callers await group.done). */
  #commitGroup(): void {
    const group = this.#group!;
    this.#group = undefined;
    try {
      this.#run('commit');
      group.settle();
    } catch (error) {
      try {
        if (this.db.inTransaction) this.#run('rollback');
      } catch {
        // The commit's error is the one to report.
      }
      group.settle(error);
    }
  }

  #abandonGroup(error: unknown): void {
    const group = this.#group;
    this.#group = undefined;
    group?.settle(error);
  }

  #release(lease: Lease): void {
    lease.released = true;
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }

  #run(sql: string): void {
    this.db.prepare(sql).run([]);
  }

  #statement<R>(query: CompiledQuery): QueryResult<R> {
    const statement = this.db.prepare(query.sql);
    if (statement.reader) return { rows: statement.all(query.parameters) as R[] };
    const { changes, lastInsertRowid } = statement.run(query.parameters);
    return {
      numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
      insertId:
        lastInsertRowid !== undefined && lastInsertRowid !== null
          ? BigInt(lastInsertRowid)
          : undefined,
      rows: [],
    };
  }
}
