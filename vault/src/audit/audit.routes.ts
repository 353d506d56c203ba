import { AUDIT_EVENTS, type AuditEvent } from '@webkey/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireSession, type SessionCookie } from '../accounts/session-cookie.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { VaultError } from '../http/vault-error.ts';
import { customerDataKey } from '../records/record-crypto.ts';
import { readAudit } from './audit-log.ts';
import { auditToCsv, exportAudit } from './export-audit.ts';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
  vendor: z.string().max(2048).optional(),
  event: z.enum(AUDIT_EVENTS).optional(),
});

function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.output<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    throw new VaultError('invalid_request', {
      detail: 'The query parameters are not valid.',
      errors: parsed.error.issues.map((issue) => ({
        pointer: issue.path.join('.') || 'query',
        message: issue.message,
      })),
    });
  }
  return parsed.data;
}

/**
 * The customer's audit log: newest first, paged by `before` (a seq), filtered by vendor or event;
 * and the export as JSON (with the signed checkpoint) or CSV.
 */
export function auditRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireSession(ctx, cookie));

  // Reads need no transaction: each is one SELECT, a consistent snapshot of the chain.
  const withKey = async <T>(customerId: string, work: (dataKey: Uint8Array) => Promise<T>) =>
    work(await customerDataKey(ctx, ctx.db, customerId));

  app.get('/', async (c) => {
    const query = parseQuery(listQuery, c.req.query());
    const customerId = c.get('customerId');
    const entries = await withKey(customerId, (dataKey) =>
      readAudit(ctx.db, customerId, dataKey, {
        limit: query.limit + 1,
        ...(query.before !== undefined ? { before: query.before } : {}),
        ...(query.vendor !== undefined ? { vendorId: query.vendor } : {}),
        ...(query.event !== undefined ? { event: query.event as AuditEvent } : {}),
      }),
    );
    const page = entries.slice(0, query.limit);
    const more = entries.length > query.limit;
    c.header('cache-control', 'no-store');
    return c.json({ entries: page, nextBefore: more ? page.at(-1)!.seq : null });
  });

  app.get('/export', async (c) => {
    const { format } = parseQuery(
      z.strictObject({ format: z.enum(['json', 'csv']).default('json') }),
      c.req.query(),
    );
    const customerId = c.get('customerId');
    const log = await withKey(customerId, (dataKey) =>
      exportAudit(ctx, ctx.signer, customerId, dataKey),
    );
    c.header('cache-control', 'no-store');
    const stamp = log.exportedAt.slice(0, 10);
    if (format === 'csv') {
      c.header('content-type', 'text/csv; charset=utf-8');
      c.header('content-disposition', `attachment; filename="webkey-audit-${stamp}.csv"`);
      return c.body(auditToCsv(log.entries));
    }
    c.header('content-disposition', `attachment; filename="webkey-audit-${stamp}.json"`);
    return c.json(log);
  });

  return app;
}
