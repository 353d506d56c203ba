import { base64url } from 'jose';

/**
 * What the SDK takes from its surroundings: the time, randomness, HTTP and waiting. All are
 * injected so tests control expiry, ids and backoff (house style: jose `customFetch`, stripe-node
 * `receivedAt`).
 */

/**
 * The current time.
 *
 * @example
 * const clock: Clock = () => new Date('2026-05-01T12:00:00Z');
 */
export type Clock = () => Date;

/**
 * Cryptographically secure random bytes.
 *
 * @example
 * const random: RandomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));
 */
export type RandomBytes = (length: number) => Uint8Array;

/**
 * The slice of `fetch` the SDK uses: a URL string and a `RequestInit`.
 *
 * @example
 * const logged: FetchLike = (url, init) => { console.log(init.method, url); return fetch(url, init); };
 */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/**
 * Waits `ms` milliseconds; rejects with the signal's reason when it is aborted first.
 *
 * @example
 * const noWait: Sleep = async () => {};
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The system clock. @example systemClock().toISOString() */
export const systemClock: Clock = () => new Date();

/** The platform CSPRNG (Web Crypto). @example systemRandom(16).length // 16 */
export const systemRandom: RandomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));

/** The global `fetch`, looked up at call time so test doubles installed later are seen. @example await globalFetch('https://vault.example/.well-known/webkey-vault', {}) */
export const globalFetch: FetchLike = (url, init) => fetch(url, init);

/** A real timer that honours an abort signal. @example await timerSleep(100) */
export const timerSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * A random identifier: `bytes` random bytes as unpadded base64url (16 bytes give 22 symbols,
 * 128 bits), used for assertion `jti`s and idempotency keys.
 *
 * @example
 * randomId(systemRandom) // 'q3Zf0m8Xc1n2Vb7KpL9wTA'
 */
export function randomId(random: RandomBytes, bytes = 16): string {
  return base64url.encode(random(bytes));
}
