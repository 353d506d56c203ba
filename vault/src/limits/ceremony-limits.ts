import type { Db } from '../db/schema.ts';
import { admitAttempt, perAddress } from './failure-limits.ts';

/**
 * Passkey ceremonies a client address may start per minute, by default. Every start stores a
 * challenge for five minutes (and a finished sign-up, an account), so without a limit one client
 * could fill the database as fast as it can send requests. 60 a minute is far more than people
 * signing in from one address need, even many behind one NAT; WEBKEY_CEREMONY_LIMIT sets it.
 */
export const DEFAULT_CEREMONY_STARTS_PER_MINUTE = 60;

/**
 * A sign-up or sign-in ceremony started from `ip`, counted for good against the address's
 * budget for this minute (an IPv6 /64 counts as one address); 429 with Retry-After when it is
 * spent. There is no vault-wide budget: strangers spending it would lock every customer out.
 *
 * @example
 * await admitCeremonyStart(ctx.db, meta.ip, now, DEFAULT_CEREMONY_STARTS_PER_MINUTE);
 */
export async function admitCeremonyStart(
  db: Db,
  ip: string | null,
  now: number,
  perMinute: number,
): Promise<void> {
  const limits = perAddress('ceremony-starts', ip, perMinute);
  if (limits.length === 0) return;
  await admitAttempt(
    db,
    limits,
    now,
    'Too many sign-up or sign-in attempts from your network; wait a minute and try again.',
  );
}
