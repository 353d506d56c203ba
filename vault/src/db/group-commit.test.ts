import { describe, expect, it } from 'vitest';
import { DurabilityLost, GroupCommit } from './group-commit.ts';

/** A sync that records its paths and finishes when the test says so. */
function controlledSync() {
  const calls: string[] = [];
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const sync = (path: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push(path);
      pending.push({ resolve, reject });
    });
  /** Finishes the oldest sync still running. */
  const finish = async (error?: Error) => {
    await expect.poll(() => pending.length).toBeGreaterThan(0);
    const next = pending.shift()!;
    if (error) next.reject(error);
    else next.resolve();
  };
  return { calls, sync, finish };
}

describe('GroupCommit', () => {
  it('covers every flush that came before a sync started with that one sync', async () => {
    const { calls, sync, finish } = controlledSync();
    const group = new GroupCommit('/data/vault.sqlite-wal', sync);
    const first = group.flush();
    await finish(); // the WAL
    await finish(); // its directory, the first time only
    await first;
    const waiting = [group.flush(), group.flush(), group.flush()];
    await finish();
    await Promise.all(waiting);
    expect(calls).toEqual(['/data/vault.sqlite-wal', '/data', '/data/vault.sqlite-wal']);
  });

  it('treats a WAL that does not exist yet as nothing to sync', async () => {
    const missing = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    const group = new GroupCommit('/data/vault.sqlite-wal', () => Promise.reject(missing));
    await expect(group.flush()).resolves.toBeUndefined();
    expect(group.failure()).toBeUndefined();
  });

  it('refuses every flush after a sync failed, even when syncs work again', async () => {
    const { calls, sync, finish } = controlledSync();
    const group = new GroupCommit('/data/vault.sqlite-wal', sync);
    const failing = group.flush();
    await finish(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await expect(failing).rejects.toBeInstanceOf(DurabilityLost);
    expect(group.failure()).toBeInstanceOf(DurabilityLost);
    // Linux may have dropped the unwritten pages and reports that only once: a later sync
    // that succeeds proves nothing about earlier commits.
    await expect(group.flush()).rejects.toBe(group.failure());
    expect(calls).toHaveLength(1);
  });
});
