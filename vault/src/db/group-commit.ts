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
  /** Why commits can no longer be made durable, once a sync failed; the vault is then not ready. */
  failure(): Error | undefined;
}

/** Postgres (synchronous_commit) and SQLite with synchronous=FULL need nothing more. */
export const alreadyDurable: Durability = {
  flush: () => Promise.resolve(),
  failure: () => undefined,
};

/** A sync of the WAL failed: what was written since the last good sync may not be on disk. */
export class DurabilityLost extends Error {
  constructor(cause: unknown) {
    super('a sync of the SQLite WAL failed: restart the vault to recover from the file', { cause });
    this.name = 'DurabilityLost';
  }
}

/** Syncs one file's contents to stable storage. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Group commit for one SQLite database file. */
export class GroupCommit implements Durability {
  #next: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #directorySynced = false;
  #failure: DurabilityLost | undefined;

  constructor(
    private readonly walFile: string,
    private readonly sync: (path: string) => Promise<void> = syncFile,
  ) {}

  failure(): Error | undefined {
    return this.#failure;
  }

  flush(): Promise<void> {
    // Latched: after a failed fsync Linux may drop the unwritten pages and mark them clean, so
    // a later sync can succeed although earlier commits never reached the disk. No write is
    // acknowledged again until a restart recovers from what the file really holds.
    if (this.#failure) return Promise.reject(this.#failure);
    // A sync that has not started yet covers this caller's commit too: share it.
    if (this.#next) return this.#next;
    const next = (async () => {
      // One sync at a time; the next starts when the running one ends.
      await this.#running?.catch(() => undefined);
      this.#next = undefined;
      const running = this.syncWal().catch((error: unknown) => {
        this.#failure ??= new DurabilityLost(error);
        throw this.#failure;
      });
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
    try {
      await this.sync(this.walFile);
    } catch (error) {
      // No WAL yet: nothing has been written, so nothing needs syncing.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (!this.#directorySynced) {
      // The WAL file's directory entry must be durable too, once, after it was created.
      await this.sync(dirname(this.walFile));
      this.#directorySynced = true;
    }
  }
}
