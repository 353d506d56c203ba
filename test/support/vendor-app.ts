import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
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
  stop(): Promise<void>;
}

/**
 * Starts a vendor on 127.0.0.1 that serves its metadata document with the SDK's handler and
 * redeems through a VendorClient trusting `trust`.
 */
export async function startVendorApp(name: string, trust: TrustPolicy): Promise<VendorApp> {
  let handler: ((request: Request) => Response | undefined) | undefined;
  const server = createAdaptorServer({
    fetch: (request: Request) => handler?.(request) ?? new Response(null, { status: 404 }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const id = `http://127.0.0.1:${port}/webkey-vendor.json`;
  const { privateJwk, publicJwk } = await generateVendorKeyPair('ES256');
  handler = vendorMetadataHandler({ vendorId: id, name, publicKeys: [publicJwk] });
  const client = new VendorClient({ clientId: id, privateKey: privateJwk, trust });
  return {
    id,
    client,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
