import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';
import { vaultFolder } from '../package-folder.ts';

/**
 * Takes SQLite's WAL checkpoints off the main thread.
 *
 * By default the connection that commits past 1000 WAL pages checkpoints at once, inside that
 * commit: it copies the pages into the database file and syncs both files while the event loop
 * waits (here 10 to 16 ms, once every few hundred commits under load, which every request in
 * flight then waits for). Instead, the writer's automatic checkpoints are turned off and a
 * worker thread with a connection of its own runs PASSIVE checkpoints every `intervalMs`: it
 * copies what no reader still needs and never blocks the writer. SQLite restarts the WAL from
 * its beginning when a write starts after a complete checkpoint.
 *
 * Under commits that never pause that restart does not come (each PASSIVE ends behind the latest
 * commit), so past `restartFrames` the worker follows its PASSIVE checkpoint with a RESTART one:
 * it holds back new writes while it copies the little committed since and waits for readers to
 * leave the WAL, and the next write starts the WAL again (here 0.1 to 5 ms, once or twice a
 * second under full load, where the WAL otherwise grows by megabytes a second). Should that not
 * keep up, past
 * `maxWalFrames` the writer checkpoints in its commits again (the default, blocking way) until
 * the WAL has restarted; and if the worker fails (a checkpoint that throws ends it), the writer
 * goes back to checkpointing itself.
 *
 * @example
 * const checkpoints = startBackgroundCheckpoints(writer, 'vault.sqlite', { onNotice: log });
 * await checkpoints.close();
 */
export interface BackgroundCheckpoints {
  /** Stops the worker (after its checkpoint in progress, if any). */
  close(): Promise<void>;
}

export interface BackgroundCheckpointOptions {
  /** How often the worker checkpoints, ms; default 100. */
  intervalMs?: number;
  /**
   * WAL size, in pages, past which the worker restarts the WAL (a RESTART checkpoint, which holds
   * back new writes for as long as it copies what was committed since its PASSIVE one);
   * default 2000 (8 MB).
   */
  restartFrames?: number;
  /**
   * How long a RESTART checkpoint waits for its moment before it gives up for a turn, ms
   * (default 20): first for the writer, then, writes held back, for readers to leave the WAL.
   */
  restartWaitMs?: number;
  /** WAL size, in pages, past which the writer checkpoints itself again; default 8000 (32 MB). */
  maxWalFrames?: number;
  /** Told when the writer takes checkpoints back, and why. */
  onNotice?: (event: 'wal_checkpoints_inline', reason: string) => void;
}

/** SQLite's own automatic checkpoint threshold, in pages. */
const SQLITE_AUTOCHECKPOINT = 1000;

const WORKER_FILE = join(vaultFolder(), 'src', 'db', 'checkpoint-worker.js');

export function startBackgroundCheckpoints(
  writer: SQLite.Database,
  file: string,
  options: BackgroundCheckpointOptions = {},
): BackgroundCheckpoints {
  const maxWalFrames = options.maxWalFrames ?? 8000;
  let inline = false;
  const checkpointInline = (yes: boolean, reason: string) => {
    if (yes === inline) return;
    inline = yes;
    writer.pragma(`wal_autocheckpoint = ${yes ? SQLITE_AUTOCHECKPOINT : 0}`);
    if (yes) options.onNotice?.('wal_checkpoints_inline', reason);
  };
  writer.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(WORKER_FILE, {
    workerData: {
      file,
      intervalMs: options.intervalMs ?? 100,
      restartFrames: options.restartFrames ?? 2000,
      restartWaitMs: options.restartWaitMs ?? 20,
    },
  });
  worker.unref();
  let closing = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const takeBack = (reason: string) => {
    if (closing) return;
    closing = true;
    checkpointInline(true, reason);
    worker.postMessage('close');
  };
  worker.on('message', ({ walFrames }: { walFrames: number }) => {
    if (!closing) checkpointInline(walFrames >= maxWalFrames, `the WAL holds ${walFrames} pages`);
  });
  worker.on('error', (error) => takeBack(`checkpoint worker failed: ${error.message}`));
  worker.on('exit', (code) => takeBack(`checkpoint worker exited with ${code}`));
  return {
    close: async () => {
      // Unreferenced, the worker would not keep the process alive long enough to be waited for.
      worker.ref();
      if (!closing) {
        closing = true;
        worker.postMessage('close');
      }
      await exited;
    },
  };
}
