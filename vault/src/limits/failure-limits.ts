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

function buckets(vendorId: string, ip: string | null): [string, number][] {
  return [
    [`code-failures:vendor:${vendorId}`, SHORT_CODE_FAILURE_LIMITS.vendor],
    ...(ip
      ? ([[`code-failures:ip:${ip}`, SHORT_CODE_FAILURE_LIMITS.ip]] as [string, number][])
      : []),
    ['code-failures:global', SHORT_CODE_FAILURE_LIMITS.global],
  ];
}

/**
 * Refuses a short-code redemption with 429 and Retry-After when the vendor, its address or the
 * vault as a whole has used up its failure budget for this window. Counters live in the
 * database, so they hold across processes and instances.
 *
 * @example
 * await checkCodeFailureBudget(db, vendor.id, meta.ip, now);
 */
export async function checkCodeFailureBudget(
  db: Db,
  vendorId: string,
  ip: string | null,
  now: number,
): Promise<void> {
  const start = windowStart(now);
  const rows = await db
    .selectFrom('rate_limits')
    .select(['bucket', 'count'])
    .where('window_start', '=', start)
    .where(
      'bucket',
      'in',
      buckets(vendorId, ip).map(([bucket]) => bucket),
    )
    .execute();
  const counts = new Map(rows.map((row) => [row.bucket, row.count]));
  if (buckets(vendorId, ip).some(([bucket, limit]) => (counts.get(bucket) ?? 0) >= limit)) {
    const retryAfter = Math.ceil((start + WINDOW_MS - now) / 1000);
    throw new VaultError('rate_limited', {
      detail: 'Too many short codes refused; wait before trying again.',
      headers: { 'retry-after': String(Math.max(retryAfter, 1)) },
    });
  }
}

/**
 * Counts one failed short-code redemption (a code naming no key, or a key that was refused)
 * against the vendor, its address and the vault.
 */
export async function recordCodeFailure(
  db: Db,
  vendorId: string,
  ip: string | null,
  now: number,
): Promise<void> {
  const start = windowStart(now);
  for (const [bucket] of buckets(vendorId, ip)) {
    await db
      .insertInto('rate_limits')
      .values({ bucket, window_start: start, count: 1 })
      .onConflict((conflict) =>
        conflict
          .columns(['bucket', 'window_start'])
          .doUpdateSet((eb) => ({ count: eb('rate_limits.count', '+', 1) })),
      )
      .execute();
  }
}
