import { problemSchema } from '@webkey/protocol';
import type { z } from 'zod';
import type { RefusalHint, WebkeyError } from './errors.ts';
import { errorFromAnswer, VaultResponseError } from './errors.ts';
import { parseRetryAfter } from './retrying-sender.ts';

/**
 * Reading a vault's answers: a success body checked against its schema, or an RFC 9457 problem
 * turned into the matching error class. Either way the request id comes along.
 */

/**
 * The vault's request id of an answer (`X-Request-Id`).
 *
 * @example
 * requestIdOf(response) // 'req_3q2-7wEhQ0mXw1n0u8kGdA'
 */
export function requestIdOf(response: Response): string | undefined {
  return response.headers.get('x-request-id') ?? undefined;
}

/**
 * The most a vault's answer may hold: a redemption of 32 records of up to 64 KiB each, with room
 * to spare. A hostile or broken vault must not fill the point of sale's memory.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** The most a discovery document, key set or problem document may hold. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

class TooLarge extends Error {}

/** The body as text, refused (TooLarge) as soon as it is declared or read past `maxBytes`. */
async function readText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new TooLarge();
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new TooLarge();
    }
    text += decoder.decode(value, { stream: true });
  }
}

/**
 * Parses a 200 answer's JSON body with `schema`; a body that is not JSON, is larger than
 * `maxBytes` or breaks the schema is a {@link VaultResponseError} carrying the request id.
 *
 * @example
 * const metadata = await readBody(response, vaultMetadataSchema, 'discovery document', MAX_DOCUMENT_BYTES);
 */
export async function readBody<S extends z.ZodType>(
  response: Response,
  schema: S,
  what: string,
  maxBytes: number = MAX_ANSWER_BYTES,
): Promise<z.output<S>> {
  const requestId = requestIdOf(response);
  const context = { code: 'unexpected_response' as const, status: response.status, requestId };
  let json: unknown;
  try {
    json = JSON.parse(await readText(response, maxBytes));
  } catch (cause) {
    if (cause instanceof TooLarge) {
      throw new VaultResponseError(
        `The vault's ${what} is larger than ${maxBytes} bytes; refused.`,
        {
          ...context,
        },
      );
    }
    throw new VaultResponseError(`The vault's ${what} is not JSON.`, { ...context, cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new VaultResponseError(`The vault's ${what} does not match the Webkey protocol.`, {
      ...context,
      detail: parsed.error.issues
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; '),
    });
  }
  return parsed.data;
}

/**
 * The error for a non-200 answer: its problem document's `code` mapped through
 * {@link errorFromAnswer}; `refusal` explains a `webkey_refused` the SDK saw coming.
 *
 * @example
 * if (!response.ok) throw await errorFromResponse(response, 'expired', new Date());
 */
export async function errorFromResponse(
  response: Response,
  refusal: RefusalHint,
  now: Date,
): Promise<WebkeyError> {
  // Too large, or cut off: mapped by status alone.
  const text = await readText(response, MAX_DOCUMENT_BYTES).catch(() => '');
  let problem: z.output<typeof problemSchema> | undefined;
  try {
    const parsed = problemSchema.safeParse(JSON.parse(text));
    if (parsed.success) problem = parsed.data;
  } catch {
    // Not JSON (a proxy's HTML page, say): mapped by status alone.
  }
  const requestId = requestIdOf(response) ?? problem?.requestId;
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), now);
  return errorFromAnswer({
    status: response.status,
    ...(problem === undefined ? {} : { code: problem.code }),
    ...(problem?.detail === undefined ? {} : { detail: problem.detail }),
    ...(problem?.errors === undefined ? {} : { issues: problem.errors }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    refusal,
  });
}
