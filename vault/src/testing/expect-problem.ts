import { PROBLEM_MEDIA_TYPE, type Problem, problemSchema } from '@webkey/protocol';
import { expect } from 'vitest';

/** Any HTTP answer a test holds: status, headers, parsed body. */
export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * Asserts an RFC 9457 refusal: the status, problem+json, the code and its type URI, a request id
 * in the body and the header. Returns the parsed problem.
 *
 * @example
 * expectProblem(await customer.request('GET', '/api/v1/records/nope.x'), 404, 'not_found');
 */
export function expectProblem(response: Answer, status: number, code: string): Problem {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get('content-type')).toBe(PROBLEM_MEDIA_TYPE);
  const problem = problemSchema.parse(response.body);
  expect(problem.code).toBe(code);
  expect(problem.status).toBe(status);
  expect(problem.type).toBe(`urn:webkey:problem:${code}`);
  expect(problem.requestId).toMatch(/^req_[A-Za-z0-9_-]{22}$/);
  expect(response.headers.get('x-request-id')).toBe(problem.requestId);
  return problem;
}
