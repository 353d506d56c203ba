// The thread that checkpoints the vault's SQLite WAL (see background-checkpoints.ts). Plain
// JavaScript: the bundled vault runs without a TypeScript loader, and this file is loaded from
// the vault's folder as it is.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

const db = new SQLite(workerData.file, { fileMustExist: true });

// PASSIVE never waits for the writer or readers: it copies what it can and lets them run. A
// checkpoint that fails throws out of the worker, and the writer takes checkpoints back.
const timer = setInterval(() => {
  const [result] = db.pragma('wal_checkpoint(PASSIVE)');
  // busy: another connection (another vault process) is checkpointing; its turn tells nothing.
  if (result.busy === 0) parentPort.postMessage({ walFrames: result.log });
}, workerData.intervalMs);

parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
