import {
  ERROR_CODES,
  type ErrorCode,
  PROBLEM_MEDIA_TYPE,
  type Problem,
  problemType,
} from '@webkey/protocol';
import type { Context } from 'hono';
import { DecryptionError } from '../crypto/aead.ts';
import type { Logger } from '../deps.ts';
import type { AppEnv } from './app-env.ts';
import { VaultError } from './vault-error.ts';

/** Builds the RFC 9457 body for an error code. */
export function problemBody(
  code: ErrorCode,
  extra: {
    detail?: string;
    requestId?: string;
    errors?: Problem['errors'];
    instance?: string;
  } = {},
): Problem {
  const { status, title } = ERROR_CODES[code];
  return { type: problemType(code), title, status, code, ...stripUndefined(extra) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A problem+json response. */
export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': PROBLEM_MEDIA_TYPE, 'cache-control': 'no-store', ...headers },
  });
}

const CONTENTION_CODES = new Set([
  'SQLITE_BUSY', // another process held the write lock past the busy timeout
  'SQLITE_BUSY_SNAPSHOT',
  'SQLITE_LOCKED',
  '40001', // Postgres serialization failure
  '40P01', // Postgres deadlock detected
  '55P03', // Postgres lock not available
]);

/** A database refusal caused by concurrent work, not by the request: answer 503, retry later. */
export function isContention(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONTENTION_CODES.has(code);
}

/**
 * Turns any thrown value into a problem+json response. Unknown errors become a generic 500;
 * their detail goes to the log under the request id, never to the client.
 */
export function renderError(error: unknown, c: Context<AppEnv>, logger: Logger): Response {
  const requestId = c.get('requestId');
  const instance = new URL(c.req.url).pathname;
  if (error instanceof VaultError && error.status < 500) {
    // Why it was refused, for the operator: the client only hears that it was. Fixed reasons
    // and library messages (jose's; SimpleWebAuthn's may quote an origin or a spent challenge):
    // no record values, keys or codes.
    if (error.privateDetail !== undefined) {
      logger.info('request_refused', {
        requestId,
        path: instance,
        code: error.code,
        reason: error.privateDetail,
        ...(error.cause instanceof Error ? { cause: error.cause.message } : {}),
      });
    }
    return problemResponse(
      problemBody(error.code, { detail: error.detail, errors: error.errors, requestId, instance }),
      error.headers,
    );
  }
  if (isContention(error)) {
    // Nothing was committed; the client may simply try again.
    logger.warn('contention', {
      requestId,
      path: instance,
      code: (error as { code?: string }).code,
    });
    return problemResponse(problemBody('service_unavailable', { requestId, instance }), {
      'retry-after': '1',
    });
  }
  const code: ErrorCode = error instanceof VaultError ? error.code : 'internal_error';
  // A ciphertext that fails authentication means stored data was altered: worth its own alert.
  const event = error instanceof DecryptionError ? 'integrity_failure' : 'request_failed';
  logger.error(event, {
    requestId,
    method: c.req.method,
    path: instance,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  const headers = error instanceof VaultError ? error.headers : {};
  return problemResponse(problemBody(code, { requestId, instance }), headers);
}
