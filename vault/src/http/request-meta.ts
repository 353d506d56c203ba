import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { RequestMeta } from '../audit/audit-log.ts';

/**
 * Where a request came from, for the audit log: the peer address of the connection (forwarded
 * headers are not trusted: a client could write anything there) and the user agent.
 */
export function requestMeta(c: Context): RequestMeta {
  let ip: string | null = null;
  try {
    ip = getConnInfo(c).remote.address ?? null;
  } catch {
    // Requests built in-process (app.request in tests) have no socket.
  }
  return { ip, userAgent: c.req.header('user-agent') ?? null };
}
