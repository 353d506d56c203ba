import { CATEGORIES, type RecordVersion } from '@webkey/protocol';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireSession, type SessionCookie } from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { etagOf, parseIfMatch } from '../http/etag.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import { VaultError } from '../http/vault-error.ts';
import {
  deleteRecord,
  listRecords,
  readHistory,
  readRecord,
  readVersion,
  type WritePreconditions,
  writeRecord,
} from './records.service.ts';

function preconditions(c: Context): WritePreconditions {
  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new VaultError('invalid_request', {
      detail: 'Only If-None-Match: * is supported on writes.',
      errors: [{ pointer: 'If-None-Match', message: 'expected *' }],
    });
  }
  return {
    ifMatch: parseIfMatch(c.req.header('if-match')),
    ifNoneMatch: ifNoneMatch !== undefined,
  };
}

function withVersion(c: Context, version: RecordVersion, status: 200 | 201 = 200): Response {
  c.header('etag', etagOf(version.versionId));
  c.header('cache-control', 'no-store');
  return c.json(version, status);
}

const versionNumber = z.coerce
  .number()
  .int()
  .positive()
  .max(2 ** 31);

/**
 * The customer's record endpoints. Every write makes a new version and needs If-Match (or
 * If-None-Match: * to create); reads return the ETag to send back.
 */
export function recordsRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));

  app.get('/', async (c) => {
    const category = c.req.query('category');
    if (category !== undefined && !(CATEGORIES as readonly string[]).includes(category)) {
      throw new VaultError('invalid_request', {
        detail: `Unknown category ${category}.`,
        errors: [{ pointer: 'category', message: `one of ${CATEGORIES.join(', ')}` }],
      });
    }
    c.header('cache-control', 'no-store');
    const records = await listRecords(
      ctx,
      c.get('customerId'),
      category as (typeof CATEGORIES)[number],
    );
    return c.json({ records });
  });

  app.get('/:path', async (c) =>
    withVersion(c, await readRecord(ctx, c.get('customerId'), c.req.param('path'))),
  );

  app.put('/:path', async (c) => {
    const conditions = preconditions(c);
    const body = await readJson(c, z.unknown());
    const { record, created } = await writeRecord(
      ctx,
      c.get('customerId'),
      c.req.param('path'),
      body,
      conditions,
      requestMeta(c),
    );
    return withVersion(c, record, created ? 201 : 200);
  });

  app.delete('/:path', async (c) => {
    const version = await deleteRecord(
      ctx,
      c.get('customerId'),
      c.req.param('path'),
      preconditions(c),
      requestMeta(c),
    );
    c.header('cache-control', 'no-store');
    return c.json(version);
  });

  app.get('/:path/versions', async (c) => {
    c.header('cache-control', 'no-store');
    return c.json({ versions: await readHistory(ctx, c.get('customerId'), c.req.param('path')) });
  });

  app.get('/:path/versions/:version', async (c) => {
    const parsed = versionNumber.safeParse(c.req.param('version'));
    if (!parsed.success)
      throw new VaultError('not_found', { detail: 'Versions are positive integers.' });
    return withVersion(
      c,
      await readVersion(ctx, c.get('customerId'), c.req.param('path'), parsed.data),
    );
  });

  return app;
}
