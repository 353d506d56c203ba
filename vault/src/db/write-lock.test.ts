import { describe, expect, it } from 'vitest';
import {
  channelWriteLock,
  isWriteLockMessage,
  type WriteLock,
  type WriteLockMessage,
  WriteLockServer,
} from './write-lock.ts';

/** A process's end of an IPC line to the server: messages arrive asynchronously, in order. */
class FakeProcess {
  readonly received: WriteLockMessage[] = [];
  readonly sent: WriteLockMessage[] = [];
  #listeners: Array<(message: unknown) => void> = [];
  connected = true;
  readonly lock: WriteLock;

  constructor(
    readonly server: WriteLockServer<FakeProcess>,
    options: { grantTimeoutMs?: number } = {},
  ) {
    this.lock = channelWriteLock(
      {
        send: (message) => {
          if (!this.connected) return false;
          this.sent.push(message);
          setImmediate(() => server.receive(this, message));
          return true;
        },
        onMessage: (listener) => this.#listeners.push(listener),
      },
      options,
    );
  }

  /** What the server sends this process. */
  send(message: WriteLockMessage): void {
    this.received.push(message);
    setImmediate(() => {
      for (const listener of this.#listeners) listener(message);
    });
  }
}

const turns = (n = 5) =>
  (async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  })();

/** Resolves to the order in which the given acquisitions settled. */
function settleOrder(acquisitions: Array<[string, Promise<void>]>): string[] {
  const order: string[] = [];
  for (const [name, promise] of acquisitions) void promise.then(() => order.push(name));
  return order;
}

describe('write lock between processes', () => {
  it('grants one process at a time, first come, first served', async () => {
    const server = new WriteLockServer<FakeProcess>();
    const [a, b, c] = [new FakeProcess(server), new FakeProcess(server), new FakeProcess(server)];
    await a.lock.acquire();
    const order = settleOrder([
      ['b', b.lock.acquire()],
      ['c', c.lock.acquire()],
    ]);
    await turns();
    expect(order).toEqual([]);
    a.lock.release();
    await turns();
    expect(order).toEqual(['b']);
    b.lock.release();
    await turns();
    expect(order).toEqual(['b', 'c']);
    c.lock.release();
    await turns();
    // Free again: the next request is granted at once.
    await a.lock.acquire();
  });

  it('ignores a release from a process that holds no grant', async () => {
    const server = new WriteLockServer<FakeProcess>();
    const [a, b] = [new FakeProcess(server), new FakeProcess(server)];
    await a.lock.acquire();
    const order = settleOrder([['b', b.lock.acquire()]]);
    // b's lock object holds nothing yet, so it sends nothing; a forged release is ignored too.
    b.lock.release();
    server.receive(b, { webkeyWriteLock: 'release', id: 1 });
    server.receive(a, { webkeyWriteLock: 'release', id: 99 });
    await turns();
    expect(order).toEqual([]);
    expect(b.sent.map((m) => m.webkeyWriteLock)).toEqual(['acquire']);
    a.lock.release();
    await turns();
    expect(order).toEqual(['b']);
  });

  it('hands the grant of a process that exits to the next, and forgets its queued requests', async () => {
    const server = new WriteLockServer<FakeProcess>();
    const [a, b, c] = [new FakeProcess(server), new FakeProcess(server), new FakeProcess(server)];
    await a.lock.acquire();
    const order = settleOrder([
      ['b', b.lock.acquire()],
      ['c', c.lock.acquire()],
    ]);
    await turns();
    server.gone(b);
    server.gone(a);
    await turns();
    expect(order).toEqual(['c']);
    expect(b.received).toEqual([]);
  });

  it('stops waiting after the grant timeout, and hands a late grant straight back', async () => {
    const server = new WriteLockServer<FakeProcess>();
    const a = new FakeProcess(server);
    const b = new FakeProcess(server, { grantTimeoutMs: 20 });
    const c = new FakeProcess(server);
    await a.lock.acquire();
    const started = performance.now();
    await b.lock.acquire();
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    // b went ahead without a grant: its release must not free the lock a holds.
    b.lock.release();
    const order = settleOrder([['c', c.lock.acquire()]]);
    await turns();
    expect(order).toEqual([]);
    // a lets go: b's stale request is granted, handed back at once, and c goes next.
    a.lock.release();
    await turns(10);
    expect(b.sent.map((m) => m.webkeyWriteLock)).toEqual(['acquire', 'release']);
    expect(order).toEqual(['c']);
  });

  it('does not wait when the line to the server is down', async () => {
    const server = new WriteLockServer<FakeProcess>();
    const a = new FakeProcess(server);
    a.connected = false;
    await a.lock.acquire();
    a.lock.release();
    expect(a.sent).toEqual([]);
  });

  it('tells its messages from any other IPC message', () => {
    expect(isWriteLockMessage({ webkeyWriteLock: 'acquire', id: 1 })).toBe(true);
    for (const other of [
      { url: 'http://127.0.0.1:1' },
      { webkeyWriteLock: 'steal', id: 1 },
      { webkeyWriteLock: 'release', id: '1' },
      { webkeyWriteLock: 'release' },
      null,
      'granted',
    ])
      expect(isWriteLockMessage(other), JSON.stringify(other)).toBe(false);
  });
});
