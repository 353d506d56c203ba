import { ERROR_CODES, type ErrorCode, type ProblemIssue } from '@webkey/protocol';

/**
 * The one error class of the vault. `detail` is public (sent to the client); `cause` and
 * `privateDetail` are for logs only. Errors with status >= 500 are always rendered as a generic
 * server error, so no internal detail can leak.
 *
 * @example
 * throw new VaultError('precondition_failed', { detail: 'address.home is at a newer version.' });
 */
export class VaultError extends Error {
  override name = 'VaultError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: ProblemIssue[] | undefined;
  readonly privateDetail: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    options: {
      detail?: string;
      errors?: ProblemIssue[];
      privateDetail?: string;
      cause?: unknown;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(options.privateDetail ?? options.detail ?? ERROR_CODES[code].title, {
      cause: options.cause,
    });
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.detail = options.detail;
    this.errors = options.errors;
    this.privateDetail = options.privateDetail;
    this.headers = options.headers ?? {};
  }
}
