import { Hono } from 'hono';
import { routePath } from 'hono/route';
import { sql } from 'kysely';
import { accountsRoutes } from './accounts/accounts.routes.ts';
import { sessionCookie } from './accounts/session-cookie.ts';
import { auditRoutes } from './audit/audit.routes.ts';
import type { VaultContext } from './context.ts';
import { newId } from './crypto/ids.ts';
import { customerDepositsRoutes, vendorDepositsRoutes } from './deposits/deposits.routes.ts';
import { discoveryRoutes } from './discovery/discovery.routes.ts';
import { customerGrantsRoutes, vendorGrantsRoutes } from './grants/grants.routes.ts';
import type { AppEnv } from './http/app-env.ts';
import { refuseOversizeBodies } from './http/json-body.ts';
import { originGuard } from './http/origin-guard.ts';
import { problemBody, problemResponse, renderError } from './http/problem.ts';
import { renderProcessMetrics } from './observability/metrics.ts';
import { recordsRoutes } from './records/records.routes.ts';
import { relationshipsRoutes } from './relationships/relationships.routes.ts';
import { uiRoutes } from './ui/ui.routes.ts';
import { redemptionRoutes } from './webkeys/redemption.routes.ts';
import { webkeysRoutes } from './webkeys/webkeys.routes.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The composition root of the HTTP surface: middleware and every feature's routes, built from
 * the vault's dependencies. No feature reads configuration or globals.
 *
 * @example
 * const app = buildApp(ctx); const response = await app.request('/healthz');
 */
export function buildApp(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cookie = sessionCookie(ctx.origin);
  const httpsOrigin = ctx.origin.startsWith('https://');

  app.use('*', async (c, next) => {
    const requestId = newId('req', ctx.random);
    const started = performance.now();
    c.set('requestId', requestId);
    c.set('trustedProxies', ctx.trustedProxies);
    await next();
    const route = routePath(c, -1);
    const status = String(c.res.status);
    const seconds = (performance.now() - started) / 1000;
    ctx.metrics.requests.inc({ method: c.req.method, route, status });
    ctx.metrics.latency.observe({ route }, seconds);
    // Routes and statuses only: never bodies, record values, keys or codes.
    ctx.logger.info('request', {
      requestId,
      method: c.req.method,
      route,
      status: c.res.status,
      ms: Math.round(seconds * 1000),
    });
    // Set on the final response, so error responses built outside c.json carry them too.
    c.res.headers.set('x-request-id', requestId);
    c.res.headers.set('x-content-type-options', 'nosniff');
    c.res.headers.set('referrer-policy', 'no-referrer');
    // Browsers that have seen the vault over https never try plain http again (a first visit
    // over http could be intercepted). Not includeSubDomains: other hosts under the vault's
    // name are not the vault's to decide for.
    if (httpsOrigin) c.res.headers.set('strict-transport-security', 'max-age=31536000');
    // Personal data is never cached; a route that may be cached says so itself.
    if (c.req.path.startsWith('/api/') && !c.res.headers.has('cache-control')) {
      c.res.headers.set('cache-control', 'no-store');
    }
  });
  app.use('/api/*', refuseOversizeBodies);
  app.use('/vendor/*', refuseOversizeBodies);
  // The customer API is cookie-authenticated, hence the CSRF guard; the vendor API is not.
  app.use('/api/*', originGuard(ctx.origin));
  // No write is acknowledged before it is durable (group commit; see db/group-commit.ts).
  app.use('*', async (c, next) => {
    await next();
    if (!SAFE_METHODS.has(c.req.method)) await ctx.durability.flush();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/livez', (c) => c.json({ status: 'ok' }));
  // Ready when the database answers and commits can still be made durable: a load balancer
  // stops sending work to a vault that cannot.
  app.get('/readyz', async (c) => {
    try {
      if (ctx.durability.failure()) throw ctx.durability.failure();
      await sql`select 1`.execute(ctx.db);
      return c.json({ status: 'ok' });
    } catch {
      return problemResponse(
        problemBody('service_unavailable', { requestId: c.get('requestId') }),
        { 'retry-after': '5' },
      );
    }
  });
  app.get('/metrics', async (c) => {
    const access = ctx.metricsAccess(c.req.header('authorization'));
    if (access === 'disabled') {
      return problemResponse(problemBody('not_found', { requestId: c.get('requestId') }));
    }
    if (access === 'unauthenticated') {
      return problemResponse(
        problemBody('unauthenticated', {
          requestId: c.get('requestId'),
          detail: 'Send the metrics token: Authorization: Bearer <WEBKEY_METRICS_TOKEN>.',
        }),
        { 'www-authenticate': 'Bearer realm="metrics"' },
      );
    }
    // Outbox depth is shared by every process, so it is read from the database when scraped.
    const pending = await ctx.db
      .selectFrom('webhook_outbox')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('delivered_at', 'is', null)
      .where('dropped_at', 'is', null)
      .executeTakeFirstOrThrow();
    const outbox = [
      '# HELP webkey_webhook_outbox_pending Change notifications waiting for delivery.',
      '# TYPE webkey_webhook_outbox_pending gauge',
      `webkey_webhook_outbox_pending ${Number(pending.count)}`,
    ].join('\n');
    return c.text(`${ctx.metrics.render()}${outbox}\n${renderProcessMetrics()}`, 200, {
      'content-type': 'text/plain; version=0.0.4',
    });
  });
  app.route('/', discoveryRoutes(ctx));
  app.route('/api/v1', accountsRoutes(ctx, cookie));
  app.route('/api/v1/records', recordsRoutes(ctx, cookie));
  app.route('/api/v1/webkeys', webkeysRoutes(ctx, cookie));
  app.route('/api/v1/audit', auditRoutes(ctx, cookie));
  app.route('/api/v1/vendors', relationshipsRoutes(ctx, cookie));
  app.route('/api/v1/grants', customerGrantsRoutes(ctx, cookie));
  app.route('/vendor/v1/grants', vendorGrantsRoutes(ctx));
  app.route('/api/v1', customerDepositsRoutes(ctx, cookie));
  app.route('/vendor/v1', vendorDepositsRoutes(ctx));
  app.route('/vendor/v1', redemptionRoutes(ctx));
  app.route('/', uiRoutes());

  app.notFound((c) =>
    problemResponse(
      problemBody('not_found', {
        requestId: c.get('requestId'),
        instance: new URL(c.req.url).pathname,
      }),
    ),
  );
  app.onError((error, c) => renderError(error, c, ctx.logger));
  return app;
}
