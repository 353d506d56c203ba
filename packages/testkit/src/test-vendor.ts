import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CLIENT_ASSERTION_JWT_TYPE,
  CLIENT_ASSERTION_TYPE,
  type VendorMetadata,
} from '@webkey/protocol';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';

/** What {@link TestVendor.redeem} sends, beyond the key or code. */
export interface RedeemOptions {
  /** A ready-made assertion (for attacks); default: a fresh valid one. */
  assertion?: string;
  idempotencyKey?: string;
  /** Extra body members, to test strict parsing. */
  extraBody?: Record<string, unknown>;
  /** Extra request headers (X-Forwarded-For, say). */
  headers?: Record<string, string>;
}

/** A raw answer from the vault. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * A vendor for tests: serves its metadata document on 127.0.0.1 (so the vault must run in
 * development mode), holds an ES256 key, and talks to a vault's redemption endpoint at the wire
 * level, so tests can forge, replay and tamper with what a real SDK would send correctly.
 *
 * @example
 * const acme = await TestVendor.start('Acme Optics');
 * const answer = await acme.redeem(vault.url, { key });
 * await acme.stop();
 */
export class TestVendor {
  private constructor(
    private readonly server: Server,
    readonly id: string,
    readonly name: string,
    readonly privateKey: CryptoKey,
    readonly publicJwk: JWK,
    /** The metadata the vendor serves; tests may change it (rotate keys, rename). */
    public metadata: VendorMetadata,
    /** Requests the metadata URL received. */
    readonly metadataRequests: { at: Date }[],
  ) {}

  /** Starts a vendor named `name` with a fresh ES256 key. */
  static async start(name: string, options: { webhookUri?: string } = {}): Promise<TestVendor> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    publicJwk.kid = await calculateJwkThumbprint(publicJwk);
    publicJwk.alg = 'ES256';
    const requests: { at: Date }[] = [];
    let vendor: TestVendor | undefined;
    const server = createServer((request, response) => {
      if (request.url === '/webkey-vendor.json' && vendor) {
        requests.push({ at: new Date() });
        response.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'max-age=300',
        });
        response.end(JSON.stringify(vendor.metadata));
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const id = `http://127.0.0.1:${port}/webkey-vendor.json`;
    const metadata: VendorMetadata = {
      vendor_id: id,
      name,
      jwks: { keys: [publicJwk as VendorMetadata['jwks']['keys'][number]] },
      ...(options.webhookUri ? { webhook_uri: options.webhookUri } : {}),
    };
    vendor = new TestVendor(
      server,
      id,
      name,
      privateKey as CryptoKey,
      publicJwk,
      metadata,
      requests,
    );
    return vendor;
  }

  /**
   * A client assertion for `audience` (the vault's issuer), valid for 60 s. Every claim and
   * header member can be overridden, to forge bad ones.
   */
  async assertion(
    audience: string,
    overrides: { claims?: JWTPayload; header?: Record<string, unknown>; key?: CryptoKey } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: this.id,
      sub: this.id,
      aud: audience,
      jti: randomUUID(),
      iat: now,
      exp: now + 60,
      ...overrides.claims,
    })
      .setProtectedHeader({
        alg: 'ES256',
        typ: CLIENT_ASSERTION_JWT_TYPE,
        kid: this.publicJwk.kid,
        ...overrides.header,
      })
      .sign(overrides.key ?? this.privateKey);
  }

  /** Posts a redemption to a vault (its issuer URL) and returns the raw answer. */
  async redeem(
    vaultUrl: string,
    presented: { key: string } | { code: string },
    options: RedeemOptions = {},
  ): Promise<RawAnswer> {
    const body = {
      ...presented,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: options.assertion ?? (await this.assertion(vaultUrl)),
      ...options.extraBody,
    };
    const response = await fetch(`${vaultUrl}/vendor/v1/redeem`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
        ...options.headers,
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** Stops serving the metadata. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
