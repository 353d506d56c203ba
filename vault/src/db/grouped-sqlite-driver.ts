import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  QueryResult,
  SqliteStatement,
} from 'kysely';
import { processLocalWriteLock, type WriteLock } from './write-lock.ts';

/** The slice of better-sqlite3 the driver uses (it also needs to know if SQLite rolled back). */
export interface GroupableSqliteDatabase {
  /** better-sqlite3's statements say whether they only read (`readonly`). */
  prepare(sql: string): SqliteStatement & { readonly readonly?: boolean };
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

/** One user of the driver, from acquireConnection to releaseConnection. */
class Lease implements DatabaseConnection {
  /** Holds the writer connection (taken by a transaction or a write, on first need). */
  holdsWriter = false;
  inTransaction = false;

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
 * a time, so transactions already run one after another on the single connection; a finished
 * transaction does not commit on its own but is released as a savepoint inside one IMMEDIATE
 * transaction that the next ones join: those waiting for the connection, and those that the
 * current turn of the event loop starts. The group commits at the end of that turn
 * (setImmediate) once nobody holds or waits for the connection, or when it reaches its limits.
 * Each COMMIT writes every page it changed to the WAL, so a group writes a hot page (an index
 * leaf, a customer's audit chain) once instead of once per transaction.
 *
 * Every transaction still sees exactly the committed work of those before it, and its caller
 * hears of its success only once its group has committed: a failed group commit fails every
 * transaction in it. Statements outside transactions never see an open group's work: reads run
 * on a separate reader connection when one is given (WAL readers see committed data only, and
 * need not queue behind writers), and a write outside a transaction first commits the open
 * group. Writers get the connection first come, first served.
 *
 * @example
 * new GroupedSqliteDriver(writer, { reader: new SQLite(file) });
 */
export class GroupedSqliteDriver implements Driver {
  readonly #waiters: Array<() => void> = [];
  #held = false;
  #group: Group | undefined;
  /** The lease whose transaction is running (its savepoint not yet released). */
  #running: Lease | undefined;
  #commitScheduled = false;

  private readonly reader: GroupableSqliteDatabase | undefined;
  private readonly writeLock: WriteLock;
  private readonly limits: GroupLimits;
  private readonly now: () => number;

  constructor(
    private readonly db: GroupableSqliteDatabase,
    options: {
      /** A second connection to the same file, used only for reads outside transactions. */
      reader?: GroupableSqliteDatabase;
      limits?: GroupLimits;
      /** Taken around every write, with other processes writing the same file. */
      writeLock?: WriteLock;
      /** Milliseconds, for the groups' age. */
      now?: () => number;
    } = {},
  ) {
    this.reader = options.reader;
    this.writeLock = options.writeLock ?? processLocalWriteLock;
    this.limits = options.limits ?? DEFAULT_GROUP_LIMITS;
    this.now = options.now ?? (() => performance.now());
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // The writer is taken when the lease first needs it: reads may never need it.
    return new Lease(this);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    await this.#takeWriter(lease);
    if (!this.#group) {
      await this.writeLock.acquire();
      // IMMEDIATE takes the write lock now, so other processes' busy timeout applies.
      try {
        this.#run('begin immediate');
      } catch (error) {
        this.writeLock.release();
        throw error;
      }
      this.#group = newGroup(this.now());
    }
    this.#run(`savepoint ${UNIT}`);
    lease.inTransaction = true;
    this.#running = lease;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    this.#run(`release ${UNIT}`);
    lease.inTransaction = false;
    this.#running = undefined;
    const group = this.#group!;
    group.transactions += 1;
    if (this.#isFull(group)) {
      this.#commitGroup();
    } else {
      // Let the next transaction in; this one's caller waits for the group's commit.
      this.#releaseWriter(lease);
    }
    await group.done;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    // Nothing to undo once the savepoint was released (the group commit failed instead).
    if (!lease.inTransaction) return;
    lease.inTransaction = false;
    this.#running = undefined;
    if (!this.db.inTransaction) {
      this.#abandonGroup(new Error('SQLite rolled the transaction back'));
      return;
    }
    this.#run(`rollback to ${UNIT}`);
    this.#run(`release ${UNIT}`);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const lease = connection as Lease;
    if (!lease.holdsWriter) return;
    const group = this.#group;
    if (group && this.#isFull(group)) this.#commitGroup();
    this.#releaseWriter(lease);
  }

  async destroy(): Promise<void> {
    if (this.#running && this.db.inTransaction) {
      // A transaction still running when the database closes is undone, not half committed.
      this.#running.inTransaction = false;
      this.#running = undefined;
      this.#run(`rollback to ${UNIT}`);
      this.#run(`release ${UNIT}`);
    }
    if (this.#group) this.#commitGroup();
    this.reader?.close();
    this.db.close();
  }

  /** Runs one statement for a lease; see Lease.executeQuery. */
  async execute<R>(lease: Lease, query: CompiledQuery): Promise<QueryResult<R>> {
    if (!lease.inTransaction) {
      const read = this.reader?.prepare(query.sql);
      if (read?.readonly) return statementResult<R>(read, query);
      await this.#takeWriter(lease);
      // A write outside a transaction must neither see nor join uncommitted work.
      if (this.#group) this.#commitGroup();
      await this.writeLock.acquire();
      try {
        return statementResult<R>(this.db.prepare(query.sql), query);
      } finally {
        this.writeLock.release();
      }
    }
    try {
      return statementResult<R>(this.db.prepare(query.sql), query);
    } catch (error) {
      // Some errors (I/O, disk full) make SQLite roll back the whole transaction: the group is lost.
      if (this.#group && !this.db.inTransaction) this.#abandonGroup(error);
      throw error;
    }
  }

  async #takeWriter(lease: Lease): Promise<void> {
    if (lease.holdsWriter) return;
    if (this.#held) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#held = true;
    lease.holdsWriter = true;
  }

  #releaseWriter(lease: Lease): void {
    lease.holdsWriter = false;
    const next = this.#waiters.shift();
    if (next) {
      next();
      return;
    }
    this.#held = false;
    // Nobody waits: the group commits at the end of this turn of the event loop, joined by the
    // transactions that this turn's I/O callbacks start meanwhile.
    if (this.#group && !this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(() => {
        this.#commitScheduled = false;
        // A holder of the writer commits or schedules the group itself when it lets go.
        if (this.#group && !this.#held) this.#commitGroup();
      });
    }
  }

  #isFull(group: Group): boolean {
    return (
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
      this.writeLock.release();
      group.settle();
    } catch (error) {
      try {
        if (this.db.inTransaction) this.#run('rollback');
      } catch {
        // The commit's error is the one to report.
      }
      this.writeLock.release();
      group.settle(error);
    }
  }

  #abandonGroup(error: unknown): void {
    const group = this.#group;
    this.#group = undefined;
    if (group) this.writeLock.release();
    group?.settle(error);
  }

  #run(sql: string): void {
    this.db.prepare(sql).run([]);
  }
}

function statementResult<R>(statement: SqliteStatement, query: CompiledQuery): QueryResult<R> {
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
