import { Hono } from 'hono';
import type { AppEnv } from '../http/app-env.ts';
import { problemBody, problemResponse } from '../http/problem.ts';
import { loadIndexHtml, loadUiAssets, type UiAsset } from './ui-assets.ts';
import { UI_CSP, uiHeaders } from './ui-headers.ts';

/** A file answer, or 304 when the browser already holds these bytes (RFC 9110 section 13.1.2). */
function serve(file: UiAsset, ifNoneMatch: string | undefined): Response {
  const headers = uiHeaders(file.contentType, file.etag);
  if (ifNoneMatch?.split(',').some((tag) => tag.trim() === file.etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(file.body, { status: 200, headers });
}

/**
 * The customer web app: the HTML shell at `/` (pages are hash routes, so no customer data ever
 * reaches a server URL) and its files under `/assets/`. Everything is read once, here, at start.
 *
 * @example
 * app.route('/', uiRoutes());
 */
export function uiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const index = loadIndexHtml();
  const assets = loadUiAssets();

  app.get('/', (c) => serve(index, c.req.header('if-none-match')));

  app.get('/assets/*', (c) => {
    const pathname = new URL(c.req.url).pathname;
    const file = assets.get(pathname.slice('/assets/'.length));
    if (!file) {
      return problemResponse(
        problemBody('not_found', { requestId: c.get('requestId'), instance: pathname }),
        { 'content-security-policy': UI_CSP, 'x-frame-options': 'DENY' },
      );
    }
    return serve(file, c.req.header('if-none-match'));
  });

  return app;
}
