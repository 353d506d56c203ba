import type { Context } from 'hono';
import type { z } from 'zod';
import { toProblemIssues } from './problem-issues.ts';
import { VaultError } from './vault-error.ts';

/** Request bodies above this size are refused before parsing (see also the bodyLimit middleware). */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Reads a JSON request body and validates it against a (strict) zod schema. Refuses other
 * content types with 415, malformed JSON and schema violations with 400 and a list of
 * `{ pointer, message }` issues.
 *
 * @example
 * const body = await readJson(c, z.strictObject({ name: z.string() }));
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const mediaType = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new VaultError('unsupported_media_type');
  }
  const text = await c.req.text();
  if (Buffer.byteLength(text) > MAX_JSON_BODY_BYTES) throw new VaultError('payload_too_large');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new VaultError('invalid_request', { detail: 'The body is not valid JSON.' });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new VaultError('invalid_request', {
      detail: 'The body does not match the expected shape.',
      errors: toProblemIssues(parsed.error.issues),
    });
  }
  return parsed.data;
}
