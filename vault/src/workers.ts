import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { VaultConfig } from './config.ts';
import { clusterWriteLock, serveClusterWriteLock } from './db/write-lock.ts';
import { openVault, startVault } from './vault.ts';

/** Parses `--workers N|auto`; undefined when absent. */
export function workerCount(args: string[]): number | undefined {
  const index = args.indexOf('--workers');
  if (index === -1) return undefined;
  const value = args[index + 1];
  if (value === 'auto') return availableParallelism();
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 64)
    throw new RangeError('--workers takes a number from 1 to 64, or auto');
  return count;
}

/**
 * Runs the vault in `count` processes sharing one listening port (node:cluster), so it uses every
 * core. The primary prepares storage once (migrations, first signing key), then forks; workers
 * that die are replaced; SIGINT/SIGTERM stop them all after in-flight requests. Everything the
 * workers must agree on lives in the database (see docs/operations.md); the primary only serves
 * them an advisory write lock (see WriteLock), so a worker waiting to write wakes at once.
 */
export async function serveWorkers(
  config: VaultConfig,
  count: number,
  print: (line: string) => void,
): Promise<void> {
  if (cluster.isPrimary) {
    // One process migrates and creates the first signing key, before any worker races to.
    const { database } = await openVault(
      config,
      config.publicUrl ?? `http://localhost:${config.port}`,
    );
    await database.close();
    serveClusterWriteLock();
    let stopping = false;
    let announced = false;
    const fork = () => {
      const worker = cluster.fork();
      worker.on('message', (message: { url?: string }) => {
        if (message.url && !announced) {
          announced = true;
          print(`Webkey vault listening on ${message.url} (${count} workers)`);
        }
      });
    };
    for (let n = 0; n < count; n++) fork();
    cluster.on('exit', (_worker, code, signal) => {
      if (stopping) return;
      print(`a worker exited (${signal ?? code}); starting another`);
      fork();
    });
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      print(`${signal} received, stopping ${count} workers`);
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      const done = () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0);
      cluster.on('exit', done);
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    return;
  }
  const vault = await startVault(config, { writeLock: clusterWriteLock() });
  process.send?.({ url: vault.url });
  const stop = async () => {
    await vault.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}
