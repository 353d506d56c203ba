// The thread that checkpoints the vault's SQLite WAL (see background-checkpoints.ts). Plain
// JavaScript: the bundled vault runs without a TypeScript loader, and this file is loaded from
// the vault's folder as it is.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

const db = new SQLite(workerData.file, { fileMustExist: true });
db.pragma(`busy_timeout = ${workerData.restartWaitMs}`);

// PASSIVE never waits for the writer or readers: it copies what it can and lets them run. A
// checkpoint that fails throws out of the worker, and the writer takes checkpoints back.
//
// SQLite restarts the WAL only when a write begins after a complete checkpoint; under commits
// that never pause, each PASSIVE finishes behind the latest commit and the WAL only grows. So
// once it is past restartFrames, RESTART copies the few pages committed since the PASSIVE
// while it holds back new writes (the writer waits in its busy handler for those moments),
// and the next write starts the WAL again from its beginning. RESTART also waits, writes held
// back, for readers to leave the WAL: it is tried only when the PASSIVE copied everything, which
// it cannot while a reader holds an older snapshot (a long read would stall every write).
const timer = setInterval(() => {
  let [result] = db.pragma('wal_checkpoint(PASSIVE)');
  let restarted = false;
  if (
    result.busy === 0 &&
    result.log >= workerData.restartFrames &&
    result.checkpointed === result.log
  ) {
    [result] = db.pragma('wal_checkpoint(RESTART)');
    restarted = result.busy === 0;
  }
  // busy: another connection (another vault process) is checkpointing, or RESTART did not get
  // its moment within restartWaitMs; that turn tells nothing.
  if (result.busy === 0) parentPort.postMessage({ walFrames: restarted ? 0 : result.log });
}, workerData.intervalMs);

parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
