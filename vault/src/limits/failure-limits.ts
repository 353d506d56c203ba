import { isIP } from 'node:net';
import type { Db } from '../db/schema.ts';
import { VaultError } from '../http/vault-error.ts';

/** The length of a counting window. */
export const WINDOW_MS = 60_000;

/**
 * Limits on failed short-code redemptions, per window. A short code has 60 bits; these limits
 * keep the chance that guessing finds a live one below 2^-20 a day (docs/security.md).
 */
export const SHORT_CODE_FAILURE_LIMITS = {
  /** Per authenticated vendor. */
  vendor: 10,
  /** Per client address (the connection's peer, or the client a trusted proxy names). */
  ip: 10,
  /** Across the whole vault: what a distributed guesser with many vendors and addresses gets. */
  global: 600,
} as const;

function windowStart(now: number): number {
  return now - (now % WINDOW_MS);
}

/** The 16-bit groups of an IPv6 address (as isIP accepts it: `::`, an IPv4 tail, a zone). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0]!;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const before = head ? head.split(':') : [];
  const after = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? [] : Array(8 - before.length - after.length).fill('0');
  return [...before, ...zeros, ...after].map((group) => Number.parseInt(group, 16));
}

/**
 * The address a client's budget is kept under: an IPv4 address as it is, an IPv6 address by its
 * /64 network, since a single subscriber is routinely given a whole /64 (2^64 addresses).
 */
export function addressBucket(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  // An IPv4-mapped address in any spelling (::ffff:c633:6401) is the IPv4 client it maps.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6]!, groups[7]!];
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  const network = groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':');
  return `${network}::/64`;
}

/** The client address's bucket of a budget, when the address is known. */
export function perAddress(budget: string, ip: string | null, limit: number): [string, number][] {
  return ip ? [[`${budget}:ip:${addressBucket(ip)}`, limit]] : [];
}

function shortCodeBuckets(vendorId: string, ip: string | null): [string, number][] {
  return [
    [`code-failures:vendor:${vendorId}`, SHORT_CODE_FAILURE_LIMITS.vendor],
    ...perAddress('code-failures', ip, SHORT_CODE_FAILURE_LIMITS.ip),
    ['code-failures:global', SHORT_CODE_FAILURE_LIMITS.global],
  ];
}

/** An attempt let in under a failure budget; it counts as a failure unless released. */
export interface Attempt {
  /**
   * The attempt succeeded: it no longer counts against any budget. Never fails: what succeeded
   * has been done (a redemption committed), and a count left standing only errs towards refusing.
   */
  release(): Promise<void>;
}

async function bumpBuckets(db: Db, bucketNames: string[], start: number, delta: 1 | -1) {
  const counts: number[] = [];
  for (const bucket of bucketNames) {
    const row = await db
      .insertInto('rate_limits')
      .values({ bucket, window_start: start, count: delta })
      .onConflict((conflict) =>
        conflict
          .columns(['bucket', 'window_start'])
          .doUpdateSet((eb) => ({ count: eb('rate_limits.count', '+', delta) })),
      )
      .returning('count')
      .executeTakeFirstOrThrow();
    counts.push(Number(row.count));
  }
  return counts;
}

function addToBuckets(db: Db, bucketNames: string[], start: number, delta: 1 | -1) {
  return db.transaction().execute((trx) => bumpBuckets(trx, bucketNames, start, delta));
}

/**
 * Counts one attempt in the transaction `trx` belongs to and tells whether every bucket is still
 * within its budget for this window; an attempt beyond one is taken back, as admitAttempt does.
 * For work that is already in a transaction of its own (a refusal audited with the refused work).
 *
 * @example
 * if (await countWithinBudget(scope.trx, [['refusals:cus_1', 60]], now)) await appendAudit(...);
 */
export async function countWithinBudget(
  trx: Db,
  limits: [string, number][],
  now: number,
): Promise<boolean> {
  const start = windowStart(now);
  const names = limits.map(([bucket]) => bucket);
  const counts = await bumpBuckets(trx, names, start, 1);
  if (limits.every(([, limit], i) => counts[i]! <= limit)) return true;
  await bumpBuckets(trx, names, start, -1);
  return false;
}

/**
 * Lets an attempt in, or refuses it with 429 and Retry-After when one of its buckets has used up
 * its budget for this window. The attempt is counted before the caller checks what it guessed,
 * in one transaction, so concurrent guesses (other requests, processes, instances: the counters
 * live in the database) cannot all pass a check that none of them has been counted in yet; a
 * refused attempt is taken back at once, so requests beyond one bucket's budget (an address's)
 * do not spend another's (the global one). The caller releases the attempt when it succeeded;
 * otherwise it stays counted as a failure.
 */
export async function admitAttempt(
  db: Db,
  limits: [string, number][],
  now: number,
  detail: string,
): Promise<Attempt> {
  const start = windowStart(now);
  const names = limits.map(([bucket]) => bucket);
  const release = async () => {
    await addToBuckets(db, names, start, -1).catch(() => undefined);
  };
  const counts = await addToBuckets(db, names, start, 1);
  if (limits.some(([, limit], i) => counts[i]! > limit)) {
    await release();
    const retryAfter = Math.ceil((start + WINDOW_MS - now) / 1000);
    throw new VaultError('rate_limited', {
      detail,
      headers: { 'retry-after': String(Math.max(retryAfter, 1)) },
    });
  }
  return { release };
}

/**
 * A short-code redemption, under the vendor's, its address's and the vault's budgets of failed
 * codes (see admitAttempt). Released when the code was redeemed.
 *
 * @example
 * const attempt = await admitCodeAttempt(db, vendor.id, meta.ip, now);
 * // ... the code was redeemed:
 * await attempt.release();
 */
export function admitCodeAttempt(
  db: Db,
  vendorId: string,
  ip: string | null,
  now: number,
): Promise<Attempt> {
  return admitAttempt(
    db,
    shortCodeBuckets(vendorId, ip),
    now,
    'Too many short codes refused; wait before trying again.',
  );
}

/** Limits on unknown recovery codes, per window (80-bit codes: guessing them is hopeless anyway). */
export const RECOVERY_CODE_FAILURE_LIMITS = {
  /** Per client address (an IPv6 /64 counts as one). */
  ip: 10,
  /** Across the whole vault. */
  global: 300,
} as const;

/**
 * An unknown recovery code, counted against the address's and the vault's budgets (see
 * admitAttempt); 429 when one is spent.
 *
 * @example
 * await admitRecoveryAttempt(db, meta.ip, now); // then refuse the code
 */
export async function admitRecoveryAttempt(db: Db, ip: string | null, now: number): Promise<void> {
  // Counted for good: only unknown codes come here, and they stay failures.
  await admitAttempt(
    db,
    [
      ...perAddress('recovery-failures', ip, RECOVERY_CODE_FAILURE_LIMITS.ip),
      ['recovery-failures:global', RECOVERY_CODE_FAILURE_LIMITS.global],
    ],
    now,
    'Too many recovery codes refused; wait before trying again.',
  );
}
