import type { Clock, FetchLike, RandomBytes, Sleep } from './deps.ts';
import { timerSleep } from './deps.ts';
import { VaultUnreachableError } from './errors.ts';

/**
 * Sends one logical request with retries (stripe-node `src/RequestSender.ts`): only connection
 * failures, 409, 429 and 5xx are retried, with capped exponential backoff and full jitter, and
 * the body is rebuilt for every attempt so each carries a fresh client assertion (the vault
 * refuses an assertion `jti` it has seen). The caller keeps the Idempotency-Key constant.
 */

/**
 * How the SDK retries. The defaults suit a point of sale: at most 3 attempts and about 2 s of
 * waiting in all.
 *
 * @example
 * const retry: RetryOptions = { maxAttempts: 2, sleep: async () => {} }; // tests: no waiting
 */
export interface RetryOptions {
  /** Attempts in all, including the first. Default 3. */
  maxAttempts?: number;
  /** First backoff ceiling in ms; doubles per attempt. Default 100. */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms. Default 2000. */
  maxDelayMs?: number;
  /** The longest `Retry-After` the SDK waits for; a longer one ends the retries. Default 5. */
  maxRetryAfterSeconds?: number;
  /** How long one attempt may take before it counts as a connection failure. Default 10000. */
  attemptTimeoutMs?: number;
  /** Waits between attempts; inject a no-op in tests. */
  sleep?: Sleep;
}

/** Retry settings with every default filled in. @example retrySettings().maxDelayMs // 2000 */
export type RetrySettings = Required<RetryOptions>;

/** Fills in the defaults. @example retrySettings({}).maxAttempts // 3 */
export function retrySettings(options: RetryOptions = {}): RetrySettings {
  const maxAttempts = options.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError('retry.maxAttempts must be a positive integer');
  }
  return {
    maxAttempts,
    baseDelayMs: options.baseDelayMs ?? 100,
    maxDelayMs: options.maxDelayMs ?? 2000,
    maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? 5,
    attemptTimeoutMs: options.attemptTimeoutMs ?? 10_000,
    sleep: options.sleep ?? timerSleep,
  };
}

/**
 * One logical HTTP request.
 *
 * @example
 * const request: OutgoingRequest = { url: discoveryUrl(issuer), method: 'GET' };
 */
export interface OutgoingRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Builds the body for each attempt (a fresh client assertion every time). */
  body?: () => Promise<string>;
  /**
   * The most of a 2xx answer's body to read; the answer handed back holds at most one byte more,
   * so the reader can tell it was too large.
   */
  maxBytes: number;
  signal?: AbortSignal;
}

/**
 * What the sender needs.
 *
 * @example
 * const deps: SenderDeps = { fetch, random: systemRandom, clock: systemClock, retry: retrySettings() };
 */
export interface SenderDeps {
  fetch: FetchLike;
  random: RandomBytes;
  clock: Clock;
  retry: RetrySettings;
}

/**
 * Sends `request`, retrying as described above. Resolves with the last answer, whatever its
 * status, a 2xx one with its body already read; throws {@link VaultUnreachableError} when no
 * attempt got a whole answer, and the signal's reason when the caller aborts.
 *
 * @example
 * const response = await sendWithRetries(deps, { url: discoveryUrl, method: 'GET', maxBytes: 65536 });
 */
export async function sendWithRetries(
  deps: SenderDeps,
  request: OutgoingRequest,
): Promise<Response> {
  const { retry } = deps;
  const { signal } = request;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const body = request.body === undefined ? undefined : await request.body();
    let response: Response;
    try {
      response = await deps.fetch(request.url, {
        method: request.method,
        headers: request.headers ?? {},
        ...(body === undefined ? {} : { body }),
        // The vault names its endpoints exactly in discovery; a redirect is an anomaly to
        // report, not to follow with a client assertion in the body.
        redirect: 'manual',
        signal: attemptSignal(signal, retry.attemptTimeoutMs),
      });
      // A success is read whole within the attempt (and its timeout): one whose body is cut off
      // (the connection dropped, the attempt timed out) is no answer, and is retried like one.
      // The use may be consumed: the same Idempotency-Key then gets the answer the vault stored
      // (protocol 9).
      if (response.ok) response = await readWhole(response, request.maxBytes);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= retry.maxAttempts) {
        throw new VaultUnreachableError(
          `Could not reach the vault at ${new URL(request.url).origin} after ${attempt} attempt${attempt === 1 ? '' : 's'}.`,
          { code: 'vault_unreachable', detail: describe(error), cause: error },
        );
      }
      await retry.sleep(backoffMs(deps, attempt), signal);
      continue;
    }
    const wait = retryDelayMs(deps, response, attempt);
    if (wait === undefined || attempt >= retry.maxAttempts) return response;
    // Free the connection of the answer we are discarding.
    await response.body?.cancel().catch(() => {});
    await retry.sleep(wait, signal);
  }
}

/**
 * `response` with its body read into memory, up to `maxBytes` and one byte more (the rest is
 * not read: memory stays bounded, and the reader sees it was too large). A declared length over
 * `maxBytes` is kept, with no body. A failure to read rejects.
 */
async function readWhole(response: Response, maxBytes: number): Promise<Response> {
  const init = {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  };
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (!response.body || declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    return new Response(null, init);
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size <= maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value.subarray(0, maxBytes + 1 - size));
    size += value.byteLength;
  }
  if (size > maxBytes) await reader.cancel().catch(() => undefined);
  const bytes = new Uint8Array(Math.min(size, maxBytes + 1));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new Response(bytes.byteLength === 0 ? null : bytes, init);
}

/** The wait before the next attempt after `response`, or undefined when it must not be retried. */
function retryDelayMs(deps: SenderDeps, response: Response, attempt: number): number | undefined {
  const { status } = response;
  if (status !== 409 && status !== 429 && status < 500) return undefined;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), deps.clock());
  if (retryAfter === undefined) return backoffMs(deps, attempt);
  return retryAfter <= deps.retry.maxRetryAfterSeconds ? retryAfter * 1000 : undefined;
}

/**
 * Capped exponential backoff with full jitter: a uniform wait in
 * [0, min(maxDelay, base * 2^(attempt-1))).
 */
function backoffMs(deps: SenderDeps, attempt: number): number {
  const ceiling = Math.min(deps.retry.maxDelayMs, deps.retry.baseDelayMs * 2 ** (attempt - 1));
  const bytes = deps.random(4);
  const fraction = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) / 2 ** 32;
  return Math.floor(fraction * ceiling);
}

/**
 * A `Retry-After` header (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date) in whole
 * seconds from `now`, or undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfter('7', new Date()) // 7
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', new Date('2026-10-21T07:27:58Z')) // 2
 */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}

function attemptSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
