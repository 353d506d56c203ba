import type { VendorMetadata } from '@webkey/protocol';
import { vendorMetadataSchema } from '@webkey/protocol';
import type { JWK } from 'jose';

/**
 * A vendor's identity on the Webkey network is the URL of its metadata document: name, logo,
 * public keys, webhook. Vaults fetch it when the vendor first redeems; there is no registration.
 */

/**
 * What goes into a vendor metadata document.
 *
 * @example
 * const options: VendorMetadataOptions = { vendorId, name: 'Acme Optics', publicKeys: [publicJwk] };
 */
export interface VendorMetadataOptions {
  /** The https URL this document is served at; it is the vendor's id. */
  vendorId: string;
  /** The name customers see in their activity log ("Read by Acme Optics"). */
  name: string;
  logoUri?: string;
  webhookUri?: string;
  /** Public JWKs of the keys that sign client assertions (several during a rotation). */
  publicKeys: readonly JWK[];
}

/** JWK members that hold private key material (RFC 7518 section 6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Builds and validates a vendor metadata document. Refuses private key material outright.
 *
 * @example
 * const document = vendorMetadataDocument({
 *   vendorId: 'https://shop.example/webkey-vendor.json',
 *   name: 'Acme Optics',
 *   publicKeys: [publicJwk],
 * });
 */
export function vendorMetadataDocument(options: VendorMetadataOptions): VendorMetadata {
  for (const key of options.publicKeys) {
    const leaked = PRIVATE_MEMBERS.filter((member) => member in key);
    if (leaked.length > 0) {
      throw new TypeError(
        `publicKeys must hold public keys only; found private member(s) ${leaked.join(', ')}`,
      );
    }
  }
  return vendorMetadataSchema.parse({
    vendor_id: options.vendorId,
    name: options.name,
    ...(options.logoUri === undefined ? {} : { logo_uri: options.logoUri }),
    jwks: { keys: options.publicKeys },
    ...(options.webhookUri === undefined ? {} : { webhook_uri: options.webhookUri }),
  });
}

/**
 * A fetch-style handler serving the metadata document at the path of `vendorId` (GET and HEAD)
 * and returning undefined for every other path, so it mounts in any framework that speaks
 * `Request`/`Response` (Hono, Next.js route handlers, Deno, Bun, `node:http` via an adapter).
 *
 * @example
 * const metadata = vendorMetadataHandler({ vendorId, name: 'Acme Optics', publicKeys: [publicJwk] });
 * app.use(async (c, next) => metadata(c.req.raw) ?? next()); // Hono
 */
export function vendorMetadataHandler(
  options: VendorMetadataOptions,
): (request: Request) => Response | undefined {
  const document = vendorMetadataDocument(options);
  const body = JSON.stringify(document);
  const path = new URL(options.vendorId).pathname;
  const headers = {
    'content-type': 'application/json',
    'cache-control': 'public, max-age=300',
  };
  return (request) => {
    if (new URL(request.url).pathname !== path) return undefined;
    if (request.method === 'GET') return new Response(body, { status: 200, headers });
    if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
    return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
  };
}
