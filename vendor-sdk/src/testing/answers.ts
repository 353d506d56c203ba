import type { ErrorCode } from '@webkey/protocol';
import { ERROR_CODES, PROBLEM_MEDIA_TYPE, problemType } from '@webkey/protocol';

/**
 * What the test vault sends back for one request.
 *
 * @example
 * vault.script(() => ({ status: 200, body: '<html>', headers: { 'content-type': 'text/html' } }));
 */
export type ScriptedAnswer =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Drop the connection without an answer (the client sees a connection error). */
  | { hangUp: true };

/**
 * A Webkey problem answer (RFC 9457) with the code's status and title.
 *
 * @example
 * vault.script(() => problem('service_unavailable', { headers: { 'retry-after': '1' } }));
 */
export function problem(
  code: ErrorCode,
  extra: { detail?: string; headers?: Record<string, string> } = {},
): ScriptedAnswer {
  const { status, title } = ERROR_CODES[code];
  return {
    status,
    headers: { 'content-type': PROBLEM_MEDIA_TYPE, ...extra.headers },
    body: {
      type: problemType(code),
      title,
      status,
      code,
      ...(extra.detail === undefined ? {} : { detail: extra.detail }),
    },
  };
}

/**
 * A JSON answer.
 *
 * @example
 * vault.script(() => json(200, { not: 'a redemption' }));
 */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): ScriptedAnswer {
  return { status, body, headers: { 'content-type': 'application/json', ...headers } };
}
