import type { ProblemIssue } from '@webkey/protocol';
import type { z } from 'zod';

function pointer(path: readonly PropertyKey[]): string {
  // RFC 6901: the whole document is "", tokens escape ~ as ~0 and / as ~1.
  return path
    .map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('');
}

/**
 * zod issues as problem `errors`: one `{ pointer, message }` per issue, and for unknown keys one
 * per key, pointing at the key itself.
 *
 * @example
 * toProblemIssues(result.error.issues) // [{ pointer: '/lines/0', message: 'Too small' }]
 */
export function toProblemIssues(issues: readonly z.core.$ZodIssue[]): ProblemIssue[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          pointer: pointer([...issue.path, key]),
          message: `unknown field ${key}`,
        }))
      : [{ pointer: pointer(issue.path), message: issue.message }],
  );
}
