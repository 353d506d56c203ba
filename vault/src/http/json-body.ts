import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from './app-env.ts';
import { toProblemIssues } from './problem-issues.ts';
import { VaultError } from './vault-error.ts';

/** Request bodies above this size are refused before parsing (see also refuseOversizeBodies). */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Refuses, with 413 and before any handler runs, a request whose Content-Length is over the
 * limit. A body without a length (chunked) is counted as it is read, by readJson.
 *
 * @example
 * app.use('/api/*', refuseOversizeBodies);
 */
export const refuseOversizeBodies: MiddlewareHandler = async (c, next) => {
  const length = c.req.header('content-length');
  if (length !== undefined && !(Number(length) <= MAX_JSON_BODY_BYTES))
    throw new VaultError('payload_too_large');
  await next();
};

/**
 * Reads Node's request body itself, up to `limit` bytes. Going through the WHATWG Request that
 * @hono/node-server would build (an undici Request, an AbortController, a web stream) costs more
 * than everything else about a redemption's HTTP handling.
 */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onClose);
      outcome();
    };
    // Without a data listener the rest of an oversized body flows on and is dropped, so the
    // 413 still reaches the client.
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(() => reject(new VaultError('payload_too_large')));
      else chunks.push(chunk);
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks, size)));
    const onFail = () =>
      settle(() => reject(new VaultError('invalid_request', { detail: 'The body was cut off.' })));
    const onClose = () => {
      if (!incoming.complete) onFail();
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onClose);
  });
}

async function bodyText(c: Context): Promise<string> {
  const incoming = (c.env as AppEnv['Bindings'] | undefined)?.incoming;
  if (incoming instanceof Readable && !incoming.readableDidRead) {
    return (await readIncoming(incoming as IncomingMessage, MAX_JSON_BODY_BYTES)).toString('utf8');
  }
  // Not served by Node (app.request in tests), or the body was read already.
  return c.req.text();
}

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
  const text = await bodyText(c);
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
