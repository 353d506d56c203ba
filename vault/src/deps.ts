import { randomBytes } from 'node:crypto';

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
/** Node's CSPRNG. */
export const systemRandom: RandomBytes = (length) => new Uint8Array(randomBytes(length));
