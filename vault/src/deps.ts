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

/** Writes one JSON line per entry to stderr. @example jsonLogger().info('started', { port }) */
export function jsonLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string, event: string, fields?: Record<string, unknown>) => {
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
