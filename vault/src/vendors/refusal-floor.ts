import { setTimeout as sleep } from 'node:timers/promises';
import { VaultError } from '../http/vault-error.ts';

/**
 * The least time a refused redemption, re-read or deposit takes. Refusing a key the vault knows
 * (expired, revoked, used up, another vendor's) writes an audit entry; refusing an unknown one
 * does not. Without a floor the difference in time would tell a guesser which codes exist.
 * Every refusal path takes a few milliseconds; the floor is well above that.
 */
export const REFUSAL_FLOOR_MS = 100;

const REFUSALS = new Set(['webkey_refused', 'grant_refused']);

/**
 * Runs `work`; if it ends in a refusal, answers no sooner than {@link REFUSAL_FLOOR_MS} after it
 * started, so all refusals take the same time whatever their reason.
 *
 * @example
 * return c.json(await withRefusalFloor(() => redeemWebkey(...)));
 */
export async function withRefusalFloor<T>(work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } catch (error) {
    if (error instanceof VaultError && REFUSALS.has(error.code)) {
      // Timers fire by the event loop's cached clock, up to a millisecond or so early by this
      // one: wait again until the floor has really passed.
      for (
        let wait = REFUSAL_FLOOR_MS - (performance.now() - started);
        wait > 0;
        wait = REFUSAL_FLOOR_MS - (performance.now() - started)
      )
        await sleep(Math.ceil(wait));
    }
    throw error;
  }
}
