/**
 * The rows `seed-scale.ts` writes: customers with data keys wrapped under the vault's master
 * keyring (createDataKey, as at sign-up) and hash-chained, sealed audit entries (buildAuditEntry,
 * as appendAudit makes them). Pure (no database), so worker threads can build chunks of rows
 * while the seeder's main thread inserts them; this module imports only what that needs.
 */
import { randomFillSync } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { AuditEvent } from '@webkey/protocol';
import type { CustomersTable } from '../src/accounts/accounts.table.ts';
import type { AuditEntriesTable } from '../src/audit/audit.table.ts';
import { type AuditFacts, buildAuditEntry, type ChainHead } from '../src/audit/audit-log.ts';
import { createDataKey } from '../src/crypto/data-keys.ts';
import { toBase64Url } from '../src/crypto/encoding.ts';
import { newId } from '../src/crypto/ids.ts';
import { loadMasterKeyring, type MasterKeyring } from '../src/crypto/master-keyring.ts';
import type { RandomBytes } from '../src/deps.ts';

/** Seeded history spans the year before the seed; customers join over its first half. */
const YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * Random bytes from the system CSPRNG, drawn from a pool: the same source as systemRandom, but
 * a small draw costs a copy instead of a call into OpenSSL.
 */
export function pooledRandom(): RandomBytes {
  const pool = Buffer.allocUnsafe(64 * 1024);
  let offset = pool.length;
  return (length) => {
    if (length > pool.length) return new Uint8Array(randomFillSync(Buffer.alloc(length)));
    if (offset + length > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = new Uint8Array(length);
    out.set(pool.subarray(offset, offset + length));
    offset += length;
    return out;
  };
}

const VENDORS = Array.from({ length: 40 }, (_, i) => ({
  id: `https://shop-${i + 1}.example/webkey-vendor.json`,
  name: `Shop ${i + 1}`,
}));
const USER_AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
];
const SDK_AGENT = 'webkey-vendor-sdk/0.1.0 node/22';
const SCOPES = [
  ['address.home', 'profile.age_over_21'],
  ['profile', 'contact'],
  ['insurance.primary'],
  ['prescription.glasses', 'profile'],
];
/** What a seeded customer does after signing up, in turn. */
const LIFE = [
  'profile_created',
  'address_created',
  'key_issued',
  'key_redeemed',
  'signed_in',
  'key_issued',
  'key_redeemed',
  'address_updated',
  'grant_read',
] as const;

/** The key a customer last issued: the redemptions that follow name it. */
interface Story {
  keyId: string;
  scope: string[];
  vendor: { id: string; name: string };
}

/** The facts of a customer's n-th entry (0: signing up). */
function factsFor(n: number, story: Story, random: RandomBytes): AuditFacts {
  const meta = { ip: `198.51.100.${1 + (n % 250)}`, userAgent: USER_AGENTS[n % 3]! };
  if (n === 0) return { event: 'signed_up', meta };
  const step = LIFE[(n - 1) % LIFE.length]!;
  switch (step) {
    case 'profile_created':
      return { event: 'record_changed', paths: ['profile'], meta, reason: 'created' };
    case 'address_created':
      return { event: 'record_changed', paths: ['address.home'], meta, reason: 'created' };
    case 'address_updated':
      return { event: 'record_changed', paths: ['address.home'], meta, reason: 'updated' };
    case 'key_issued': {
      const [scope, vendor] = random(2);
      story.keyId = newId('wk', random);
      story.scope = SCOPES[scope! % SCOPES.length]!;
      story.vendor = VENDORS[vendor! % VENDORS.length]!;
      return {
        event: 'key_issued',
        keyId: story.keyId,
        paths: story.scope,
        purpose: 'checkout',
        meta,
      };
    }
    case 'signed_in':
      return { event: 'signed_in', meta };
    default: {
      const event: AuditEvent = step;
      return {
        event,
        vendor: story.vendor,
        keyId: story.keyId,
        paths: story.scope,
        purpose: 'checkout',
        meta: { ip: '203.0.113.10', userAgent: SDK_AGENT },
      };
    }
  }
}

/** Which customers to build: `ids` are customers `first`, `first + 1`, ... of `customers`. */
export interface ChunkTask {
  ids: string[];
  first: number;
  /** All customers and all entries of the seed, which spreads entries evenly over them. */
  customers: number;
  entries: number;
  /** When the seed runs (ms): every seeded time lies in the year before it. */
  seedTime: number;
}

/** Rows for one chunk of customers, ready to insert. */
export interface Chunk {
  customers: CustomersTable[];
  entries: AuditEntriesTable[];
}

/** How many entries customer `index` gets: `entries / customers`, the remainder to the first. */
export function entriesOf(index: number, customers: number, entries: number): number {
  return Math.floor(entries / customers) + (index < entries % customers ? 1 : 0);
}

/**
 * Builds one chunk: each customer with a new data key, and their entries in order, each linked
 * to the one before by its hash, starting from the genesis hash.
 */
export function buildChunk(keyring: MasterKeyring, random: RandomBytes, task: ChunkTask): Chunk {
  const { ids, first, seedTime } = task;
  const start = seedTime - YEAR_MS;
  const customers: CustomersTable[] = [];
  const entries: AuditEntriesTable[] = [];
  ids.forEach((customerId, offset) => {
    const index = first + offset;
    const joined = start + Math.floor((index / task.customers) * (YEAR_MS / 2));
    const dataKey = createDataKey(keyring, customerId, random);
    customers.push({
      id: customerId,
      user_handle: toBase64Url(random(32)),
      data_key: dataKey.wrapped,
      master_key_id: dataKey.masterKeyId,
      created_at: joined,
      updated_at: joined,
    });
    // Entries spread from joining to a minute before the seed, in order.
    const count = entriesOf(index, task.customers, task.entries);
    const gap = Math.floor((seedTime - 60_000 - joined) / Math.max(1, count));
    const story: Story = { keyId: '', scope: [], vendor: VENDORS[0]! };
    let previous: ChainHead | undefined;
    for (let n = 0; n < count; n++) {
      const facts = factsFor(n, story, random);
      const { entry, row } = buildAuditEntry(
        customerId,
        dataKey.key,
        previous,
        facts,
        joined + n * gap,
        random,
      );
      previous = entry;
      entries.push(row);
    }
  });
  return { customers, entries };
}

/**
 * Packs a chunk's binary columns into one buffer, so a worker transfers it instead of copying
 * thousands of small arrays.
 */
function pack(chunk: Chunk): { chunk: Chunk; buffer: ArrayBuffer } {
  let size = 0;
  for (const row of chunk.customers) size += row.data_key.byteLength;
  for (const row of chunk.entries) size += row.body.byteLength;
  const buffer = new ArrayBuffer(size);
  const bytes = new Uint8Array(buffer);
  let offset = 0;
  const place = (data: Uint8Array): Uint8Array => {
    bytes.set(data, offset);
    const view = bytes.subarray(offset, offset + data.byteLength);
    offset += data.byteLength;
    return view;
  };
  for (const row of chunk.customers) row.data_key = place(row.data_key);
  for (const row of chunk.entries) row.body = place(row.body);
  return { chunk, buffer };
}

/** A request to a worker, numbered so answers are inserted in order. */
type Numbered<T> = T & { number: number };

// A worker thread: builds the chunks the main thread asks for, one at a time.
if (!isMainThread && (workerData as { seedWorker?: boolean } | null)?.seedWorker) {
  const { dataDir } = workerData as { dataDir: string };
  const random = pooledRandom();
  const keyring = loadMasterKeyring({ dataDir }, random);
  parentPort!.on('message', (task: Numbered<ChunkTask>) => {
    const { chunk, buffer } = pack(buildChunk(keyring, random, task));
    parentPort!.postMessage({ number: task.number, ...chunk }, [buffer]);
  });
}

/**
 * Worker threads that build chunks (round robin); `take` hands them back in request order.
 *
 * @example
 * const builders = new ChunkBuilders(2, dataDir); builders.request(0, task); await builders.take(0);
 */
export class ChunkBuilders {
  private readonly threads: Worker[];
  private readonly waiting = new Map<number, (chunk: Chunk) => void>();
  private readonly done = new Map<number, Chunk>();
  private failure: Error | undefined;
  private readonly rejections = new Set<(error: Error) => void>();

  constructor(count: number, dataDir: string) {
    // A worker runs this module under tsx, as the main thread does.
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    this.threads = Array.from({ length: count }, () => {
      const worker = new Worker(code, { eval: true, workerData: { seedWorker: true, dataDir } });
      worker.on('error', (error) => this.fail(error));
      worker.on('message', (message: Numbered<Chunk>) => {
        const resolve = this.waiting.get(message.number);
        if (resolve) {
          this.waiting.delete(message.number);
          resolve(message);
        } else this.done.set(message.number, message);
      });
      return worker;
    });
  }

  request(number: number, task: ChunkTask): void {
    this.threads[number % this.threads.length]!.postMessage({ ...task, number });
  }

  take(number: number): Promise<Chunk> {
    if (this.failure) return Promise.reject(this.failure);
    const ready = this.done.get(number);
    if (ready) {
      this.done.delete(number);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      this.rejections.add(reject);
      this.waiting.set(number, (chunk) => {
        this.rejections.delete(reject);
        resolve(chunk);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((worker) => worker.terminate()));
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const reject of this.rejections) reject(error);
  }
}
