/**
 * The benchmark's yardstick: a bare Hono JSON endpoint on the same Node and adapter as the
 * vault. Prints its URL and serves until killed.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/json', (c) => c.json({ ok: true, at: Date.now() }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
