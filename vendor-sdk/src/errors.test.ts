import { ERROR_CODE_LIST } from '@webkey/protocol';
import { describe, expect, it } from 'vitest';
import {
  errorFromAnswer,
  InvalidRequestError,
  RateLimitedError,
  VaultResponseError,
  VendorAuthenticationError,
  WebkeyError,
  WebkeyExpiredError,
  WebkeyNotForYouError,
  WebkeyUsedOrRevokedError,
} from './errors.ts';

describe('errorFromAnswer', () => {
  it.each([
    [{ status: 400, code: 'invalid_request' }, InvalidRequestError],
    [{ status: 401, code: 'invalid_client' }, VendorAuthenticationError],
    [{ status: 403, code: 'webkey_refused' }, WebkeyUsedOrRevokedError],
    [{ status: 403, code: 'webkey_refused', refusal: 'expired' }, WebkeyExpiredError],
    [{ status: 403, code: 'webkey_refused', refusal: 'not_for_you' }, WebkeyNotForYouError],
    [{ status: 422, code: 'idempotency_key_reused' }, InvalidRequestError],
    [{ status: 429, code: 'rate_limited' }, RateLimitedError],
    [{ status: 429 }, RateLimitedError],
    [{ status: 500, code: 'internal_error' }, VaultResponseError],
    [{ status: 503, code: 'service_unavailable' }, VaultResponseError],
    [{ status: 502 }, VaultResponseError],
    [{ status: 404, code: 'not_found' }, VaultResponseError],
    [{ status: 403, code: 'inbox_full' }, VaultResponseError],
  ] as const)('maps %o', (answer, errorClass) => {
    const error = errorFromAnswer({ ...answer, requestId: 'req_1' });
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toBeInstanceOf(WebkeyError);
    expect(error.name).toBe(errorClass.name);
    expect(error.status).toBe(answer.status);
    expect(error.requestId).toBe('req_1');
    expect(error.code).toEqual('code' in answer ? answer.code : expect.any(String));
  });

  it('maps every code of the closed list to some WebkeyError', () => {
    for (const code of ERROR_CODE_LIST) {
      expect(errorFromAnswer({ status: 400, code })).toBeInstanceOf(WebkeyError);
    }
  });

  it('keeps the vault detail apart from the message, and field issues', () => {
    const error = errorFromAnswer({
      status: 400,
      code: 'invalid_request',
      detail: 'the body is not valid',
      issues: [{ pointer: '/code', message: 'too long' }],
    });
    expect(error.message).not.toContain('the body is not valid');
    expect(error.detail).toBe('the body is not valid');
    expect((error as InvalidRequestError).issues).toEqual([
      { pointer: '/code', message: 'too long' },
    ]);
  });

  it('carries Retry-After on rate limiting', () => {
    const error = errorFromAnswer({ status: 429, code: 'rate_limited', retryAfterSeconds: 30 });
    expect(error).toMatchObject({ retryAfterSeconds: 30 });
    expect(error.message).toMatch(/30 s/);
  });
});
