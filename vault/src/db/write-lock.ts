import cluster, { type Worker } from 'node:cluster';

/**
 * A lock the processes writing one SQLite file take around each group of write transactions, so
 * a process waiting to write is woken the moment the file is free. SQLite itself only polls a
 * locked file, sleeping 1, 2, 5, 10... ms between tries: under steady contention between
 * `serve --workers` processes that costs milliseconds per transaction and most of the p99.
 *
 * The lock is advisory. SQLite's own locking still decides who writes, so a process outside the
 * group (a CLI backup, say), a lost message or a stuck holder costs time, never correctness.
 */
export interface WriteLock {
  /** Resolves when this process may write (or when waiting longer is pointless). */
  acquire(): Promise<void>;
  /** Lets the next process in; does nothing when this process holds no grant. */
  release(): void;
}

/** One process alone: nothing to coordinate. */
export const processLocalWriteLock: WriteLock = {
  acquire: () => Promise.resolve(),
  release: () => undefined,
};

/** The messages of the lock, keyed so they never collide with other IPC messages. */
export interface WriteLockMessage {
  webkeyWriteLock: 'acquire' | 'granted' | 'release';
  /** Which request, so a grant that arrives after its requester gave up is handed back. */
  id: number;
}

export function isWriteLockMessage(message: unknown): message is WriteLockMessage {
  if (typeof message !== 'object' || message === null) return false;
  const { webkeyWriteLock, id } = message as Partial<WriteLockMessage>;
  return (
    (webkeyWriteLock === 'acquire' ||
      webkeyWriteLock === 'granted' ||
      webkeyWriteLock === 'release') &&
    Number.isSafeInteger(id)
  );
}

/** A process's line to the lock's server. */
export interface WriteLockChannel {
  /** Sends to the server; false when the line is down (the message was not sent). */
  send(message: WriteLockMessage): boolean;
  onMessage(listener: (message: unknown) => void): void;
}

/**
 * How long a process waits for a grant before it leaves the waiting to SQLite's busy timeout: a
 * holder may be slow (a migration, a large backup step), and the server may be gone.
 */
export const GRANT_TIMEOUT_MS = 1000;

/**
 * The client side: asks the server for the lock. At most one request is outstanding at a time
 * (the driver asks only while it holds its own connection).
 *
 * @example
 * const lock = channelWriteLock({ send: (m) => process.send!(m), onMessage: (l) => process.on('message', l) });
 */
export function channelWriteLock(
  channel: WriteLockChannel,
  options: { grantTimeoutMs?: number } = {},
): WriteLock {
  const timeoutMs = options.grantTimeoutMs ?? GRANT_TIMEOUT_MS;
  const waiting = new Map<number, () => void>();
  let lastId = 0;
  let held: number | undefined;
  channel.onMessage((message) => {
    if (!isWriteLockMessage(message) || message.webkeyWriteLock !== 'granted') return;
    const grant = waiting.get(message.id);
    if (grant) {
      waiting.delete(message.id);
      grant();
    } else {
      // Granted after its requester stopped waiting: hand it straight back.
      channel.send({ webkeyWriteLock: 'release', id: message.id });
    }
  });
  return {
    acquire: () =>
      new Promise<void>((resolve) => {
        const id = ++lastId;
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve();
        }, timeoutMs);
        waiting.set(id, () => {
          clearTimeout(timer);
          held = id;
          resolve();
        });
        if (!channel.send({ webkeyWriteLock: 'acquire', id })) {
          clearTimeout(timer);
          waiting.delete(id);
          resolve();
        }
      }),
    release: () => {
      if (held === undefined) return;
      channel.send({ webkeyWriteLock: 'release', id: held });
      held = undefined;
    },
  };
}

/** A client as the server sees it: where to send its grants. */
export interface WriteLockClient {
  send(message: WriteLockMessage): void;
}

/**
 * The server side: grants the lock to one request at a time, first come, first served; a client
 * that goes away loses its place and its grant.
 */
export class WriteLockServer<Client extends WriteLockClient> {
  #holder: { client: Client; id: number } | undefined;
  readonly #queue: Array<{ client: Client; id: number }> = [];

  receive(client: Client, message: unknown): void {
    if (!isWriteLockMessage(message)) return;
    if (message.webkeyWriteLock === 'acquire') {
      this.#queue.push({ client, id: message.id });
      if (!this.#holder) this.#grantNext();
    } else if (
      message.webkeyWriteLock === 'release' &&
      this.#holder?.client === client &&
      this.#holder.id === message.id
    ) {
      this.#grantNext();
    }
  }

  gone(client: Client): void {
    for (let i = this.#queue.length - 1; i >= 0; i--)
      if (this.#queue[i]!.client === client) this.#queue.splice(i, 1);
    if (this.#holder?.client === client) this.#grantNext();
  }

  #grantNext(): void {
    this.#holder = this.#queue.shift();
    this.#holder?.client.send({ webkeyWriteLock: 'granted', id: this.#holder.id });
  }
}

/** A `serve --workers` worker's lock: requests go to the cluster primary over IPC. */
export function clusterWriteLock(): WriteLock {
  return channelWriteLock({
    send: (message) => {
      if (!process.connected || !process.send) return false;
      try {
        // false from send() means "queued behind others", not "lost".
        process.send(message);
        return true;
      } catch {
        return false;
      }
    },
    onMessage: (listener) => process.on('message', listener),
  });
}

/** Run in the cluster primary: serves the workers' write lock. */
export function serveClusterWriteLock(): void {
  const server = new WriteLockServer<Worker>();
  cluster.on('message', (worker, message: unknown) => server.receive(worker, message));
  // A worker's death is reported by 'exit', which hands its grant on; a failed send is no news.
  cluster.on('exit', (worker) => server.gone(worker));
}
