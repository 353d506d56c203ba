import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { RequestMeta } from '../audit/audit-log.ts';
import type { AppEnv } from './app-env.ts';
import { clientAddress, NO_TRUSTED_PROXIES } from './client-address.ts';

/**
 * Where a request came from, for the audit log and the per-address short-code budget: the
 * connection's peer, or, when the peer is a configured trusted proxy, the client it names in
 * its forwarding header (see clientAddress); and the user agent.
 */
export function requestMeta(c: Context<AppEnv>): RequestMeta {
  let peer: string | null = null;
  try {
    peer = getConnInfo(c).remote.address ?? null;
  } catch {
    // Requests built in-process (app.request in tests) have no socket.
  }
  const trusted = c.get('trustedProxies') ?? NO_TRUSTED_PROXIES;
  const ip = clientAddress(peer, c.req.header(trusted.header), trusted);
  return { ip, userAgent: c.req.header('user-agent') ?? null };
}
