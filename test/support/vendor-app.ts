import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { WebhookEvent } from '@webkey/protocol';
import {
  generateVendorKeyPair,
  type TrustPolicy,
  VendorClient,
  vendorMetadataHandler,
} from '@webkey/vendor-sdk';

/** A vendor's app as a vendor would write it with the SDK: serves its metadata, redeems keys. */
export interface VendorApp {
  id: string;
  client: VendorClient;
  /** Webhook events received and verified, in order (when started with webhooks). */
  events: WebhookEvent[];
  /** Webhook requests refused by verification. */
  refusedWebhooks: number;
  /** Answer the next webhook requests with this status instead of 204 (to test retries). */
  webhookStatus: number;
  stop(): Promise<void>;
}

/**
 * Starts a vendor on 127.0.0.1 that serves its metadata document with the SDK's handler and
 * redeems through a VendorClient trusting `trust`; with `webhooks`, it also receives change
 * notifications at /webhook and verifies them with the SDK.
 */
export async function startVendorApp(
  name: string,
  trust: TrustPolicy,
  options: { webhooks?: boolean } = {},
): Promise<VendorApp> {
  let handler: ((request: Request) => Response | undefined) | undefined;
  let app: VendorApp | undefined;
  const server = createAdaptorServer({
    fetch: async (request: Request) => {
      if (app && new URL(request.url).pathname === '/webhook' && request.method === 'POST') {
        try {
          const event = await app.client.webhooks.verify(await request.text(), request.headers);
          if (app.webhookStatus !== 204) return new Response(null, { status: app.webhookStatus });
          app.events.push(event);
          return new Response(null, { status: 204 });
        } catch {
          app.refusedWebhooks += 1;
          return new Response(null, { status: 400 });
        }
      }
      return handler?.(request) ?? new Response(null, { status: 404 });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const id = `${origin}/webkey-vendor.json`;
  const { privateJwk, publicJwk } = await generateVendorKeyPair('ES256');
  handler = vendorMetadataHandler({
    vendorId: id,
    name,
    publicKeys: [publicJwk],
    ...(options.webhooks ? { webhookUri: `${origin}/webhook` } : {}),
  });
  const client = new VendorClient({ clientId: id, privateKey: privateJwk, trust });
  app = {
    id,
    client,
    events: [],
    refusedWebhooks: 0,
    webhookStatus: 204,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return app;
}
