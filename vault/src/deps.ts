import { randomBytes, randomFillSync } from 'node:crypto';

/** The current time; injected so tests control expiry. */
export type Clock = () => Date;
/** Cryptographically secure random bytes; injected so tests can make ids repeatable. */
export type RandomBytes = (length: number) => Uint8Array;

/** A structured logger; entries must never contain record values, keys or codes. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** Log levels, least to most severe. */
export const LOG_LEVELS = ['info', 'warn', 'error'] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Writes one JSON line per entry to stderr, dropping entries below `minimum`.
 *
 * @example
 * jsonLogger(process.stderr, 'warn').info('started', { port }) // dropped
 */
export function jsonLogger(
  stream: NodeJS.WritableStream = process.stderr,
  minimum: LogLevel = 'info',
): Logger {
  const threshold = LOG_LEVELS.indexOf(minimum);
  const write = (level: LogLevel, event: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    stream.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`,
    );
  };
  return {
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
  };
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** The system clock. */
export const systemClock: Clock = () => new Date();
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * Node's CSPRNG, drawn a page at a time: a request takes a dozen small nonces and ids, and each
 * call into the CSPRNG costs more than the bytes. Bytes handed out are wiped from the pool, so
 * memory never holds a nonce or id after it was given.
 */
export const systemRandom: RandomBytes = (length) => {
  if (length > POOL_BYTES / 8) return new Uint8Array(randomBytes(length));
  if (poolOffset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolOffset = 0;
  }
  const bytes = new Uint8Array(pool.subarray(poolOffset, poolOffset + length));
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return bytes;
};
