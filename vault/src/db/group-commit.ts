import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes acknowledged SQLite commits durable against power loss at a fraction of the cost of
 * `synchronous=FULL`: the database runs with `synchronous=NORMAL` (commits are written to the
 * WAL but not synced), and before a write request is answered, {@link GroupCommit.flush} syncs
 * the WAL file, off the main thread. Requests that commit while a sync is running share the
 * next one, so one fsync covers every commit that came before it: a group commit.
 *
 * Recovery relies on SQLite's own WAL rules: frames are checksummed and only frames up to the
 * last complete commit are replayed, so a sync that covers a commit makes that commit (and all
 * before it) survive a power loss.
 */
export interface Durability {
  /** Resolves once every commit made before the call is on stable storage. */
  flush(): Promise<void>;
}

/** Postgres (synchronous_commit) and SQLite with synchronous=FULL need nothing more. */
export const alreadyDurable: Durability = { flush: () => Promise.resolve() };

/** Group commit for one SQLite database file. */
export class GroupCommit implements Durability {
  #next: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #directorySynced = false;

  constructor(private readonly walFile: string) {}

  flush(): Promise<void> {
    // A sync that has not started yet covers this caller's commit too: share it.
    if (this.#next) return this.#next;
    const next = (async () => {
      // One sync at a time; the next starts when the running one ends.
      await this.#running?.catch(() => undefined);
      this.#next = undefined;
      const running = this.syncWal();
      this.#running = running;
      try {
        await running;
      } finally {
        if (this.#running === running) this.#running = undefined;
      }
    })();
    this.#next = next;
    return next;
  }

  private async syncWal(): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.walFile, 'r');
    } catch (error) {
      // No WAL yet: nothing has been written, so nothing needs syncing.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!this.#directorySynced) {
      // The WAL file's directory entry must be durable too, once, after it was created.
      const directory = await open(dirname(this.walFile), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      this.#directorySynced = true;
    }
  }
}
