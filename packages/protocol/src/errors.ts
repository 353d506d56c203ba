import { z } from 'zod';

/**
 * The closed list of error codes a Webkey vault answers with. Each code has one HTTP status and
 * one public title; the problem `type` is `urn:webkey:problem:<code>`.
 *
 * @example
 * ERROR_CODES.precondition_failed.status // 412
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, title: 'The request is not valid.' },
  passkey_refused: { status: 400, title: 'The passkey response was refused.' },
  recovery_code_refused: { status: 400, title: 'The recovery code was refused.' },
  unauthenticated: { status: 401, title: 'Sign in first.' },
  invalid_client: { status: 401, title: 'The vendor could not be authenticated.' },
  forbidden_origin: { status: 403, title: 'The request did not come from the vault itself.' },
  reauthentication_required: {
    status: 403,
    title: 'Confirm it is you: sign in again with a passkey.',
  },
  webkey_refused: { status: 403, title: 'This web key cannot be redeemed.' },
  grant_refused: { status: 403, title: 'This grant does not allow this.' },
  inbox_full: {
    status: 403,
    title: "The customer's inbox is full of your records until they decide on some.",
  },
  not_found: { status: 404, title: 'Nothing exists at this address.' },
  conflict: { status: 409, title: 'The request conflicts with one in progress; retry.' },
  last_passkey: { status: 409, title: 'The last passkey of an account cannot be removed.' },
  precondition_failed: { status: 412, title: 'The record changed since you read it.' },
  idempotency_key_reused: {
    status: 422,
    title: 'This Idempotency-Key was used with a different request.',
  },
  payload_too_large: { status: 413, title: 'The request body is too large.' },
  unsupported_media_type: { status: 415, title: 'Send the body as application/json.' },
  precondition_required: { status: 428, title: 'Send If-Match with the ETag you read.' },
  rate_limited: { status: 429, title: 'Too many requests; try again later.' },
  internal_error: { status: 500, title: 'The vault failed to answer. Nothing was changed.' },
  service_unavailable: { status: 503, title: 'The vault is busy; try again shortly.' },
} as const satisfies Record<string, { status: number; title: string }>;

/** One of the closed list of error codes. @example const code: ErrorCode = 'not_found'; */
export type ErrorCode = keyof typeof ERROR_CODES;

/** All error codes, for schemas and docs. @example ERROR_CODE_LIST.includes('conflict') */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

const PROBLEM_TYPE_PREFIX = 'urn:webkey:problem:';

/**
 * The RFC 9457 `type` URI of an error code.
 *
 * @example
 * problemType('not_found') // 'urn:webkey:problem:not_found'
 */
export function problemType(code: ErrorCode): string {
  return `${PROBLEM_TYPE_PREFIX}${code}`;
}

/** One field-level complaint inside an `invalid_request` problem. */
export const problemIssueSchema = z.object({
  /** JSON Pointer (RFC 6901) into the request body, or the name of a header or parameter. */
  pointer: z.string(),
  message: z.string(),
});

/**
 * An RFC 9457 problem details body as the vault sends it, with Webkey's extension members
 * `code` (from the closed list), `requestId`, and for validation errors `errors`.
 *
 * @example
 * problemSchema.parse(await response.json()).code
 */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  code: z.enum(ERROR_CODE_LIST),
  requestId: z.string().optional(),
  errors: z.array(problemIssueSchema).optional(),
});

/** A parsed problem details body. */
export type Problem = z.infer<typeof problemSchema>;
/** One field-level complaint. */
export type ProblemIssue = z.infer<typeof problemIssueSchema>;

/** The media type of problem bodies (RFC 9457 section 3). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';
