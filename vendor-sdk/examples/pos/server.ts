import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createAdaptorServer } from '@hono/node-server';
import { calculateJwkThumbprint, type JWK } from 'jose';
import {
  type Clock,
  type FetchLike,
  generateVendorKeyPair,
  type RetryOptions,
  type TrustPolicy,
  type VendorKeyPair,
} from '../../src/index.ts';
import { createPosApp, type PosApp } from './pos-app.ts';

/**
 * Runs the demo point of sale as an HTTP server: picks its vendor id, gets a key pair, serves
 * the app. Run directly (`tsx vendor-sdk/examples/pos/server.ts`) it reads WEBKEY_POS_*
 * variables; `pnpm try` starts it next to a vault.
 */

/** Where the metadata document lives under the POS's origin. */
export const VENDOR_METADATA_PATH = '/webkey-vendor.json';

/**
 * How to start the point of sale.
 *
 * @example
 * const pos = await startPos({ port: 0, name: 'Acme Optics', trust: { issuers: [vault.url] }, devHttp: true });
 */
export interface StartPosOptions {
  /** Default 7430; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default "Acme Optics". */
  name?: string;
  /** Which vaults' keys to accept. */
  trust: TrustPolicy;
  /**
   * Development: the vendor id is `http://127.0.0.1:<port>/webkey-vendor.json`, which only a
   * vault in development mode accepts. Ignored when `publicUrl` is set.
   */
  devHttp?: boolean;
  /** The https origin the POS is reachable at (behind a proxy); the vendor id is derived from it. */
  publicUrl?: string;
  /** A file holding the private JWK; created (mode 0600) with a new key when it does not exist. */
  keyFile?: string;
  fetch?: FetchLike;
  clock?: Clock;
  retry?: RetryOptions;
  log?: (line: string) => void;
}

/**
 * A running point of sale.
 *
 * @example
 * console.log(`open ${pos.url}`); await pos.stop();
 */
export interface RunningPos {
  /** Where to open the counter page. */
  url: string;
  /** The shop's vendor id (its metadata document's URL). */
  vendorId: string;
  port: number;
  app: PosApp;
  stop(): Promise<void>;
}

/**
 * Starts the point of sale on `host:port`.
 *
 * @example
 * const pos = await startPos({
 *   port: 7430,
 *   name: 'Acme Optics',
 *   trust: { issuers: ['http://localhost:7420'] },
 *   devHttp: true,
 * });
 */
export async function startPos(options: StartPosOptions): Promise<RunningPos> {
  const publicUrl =
    options.publicUrl === undefined ? undefined : checkPosPublicUrl(options.publicUrl);
  if (publicUrl === undefined && !options.devHttp) {
    throw new Error(
      'startPos needs publicUrl (the https origin vaults reach the POS at) or devHttp: true',
    );
  }
  const keys = options.keyFile
    ? await keyPairFromFile(options.keyFile)
    : await generateVendorKeyPair();

  let app: PosApp | undefined;
  const server = createAdaptorServer({
    fetch: (request: Request) =>
      app
        ? app.fetch(request)
        : new Response('starting', { status: 503, headers: { 'retry-after': '1' } }),
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 7430, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = publicUrl ?? `http://127.0.0.1:${port}`;
  const vendorId = `${origin}${VENDOR_METADATA_PATH}`;
  try {
    app = createPosApp({
      vendorId,
      name: options.name ?? 'Acme Optics',
      privateJwk: keys.privateJwk,
      publicJwk: keys.publicJwk,
      trust: options.trust,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (error) {
    server.close();
    throw error;
  }
  const running = app;
  return {
    url: origin,
    vendorId,
    port,
    app: running,
    stop: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      }),
  };
}

/**
 * Checks the POS's public URL: an origin, https (http only on loopback, for trying things out).
 *
 * @example
 * checkPosPublicUrl('https://shop.example/') // 'https://shop.example'
 */
export function checkPosPublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`the POS public URL ${text} is not a URL`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error('the POS public URL must be an origin such as https://shop.example');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error('the POS public URL must use https (vaults refuse other vendor ids)');
  }
  return url.origin;
}

/** Private JWK members (RFC 7518 section 6): what the public half must not carry. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/**
 * Loads the shop's key pair from a private JWK file, or makes one and writes it (mode 0600).
 * A stable key lets the POS restart without vaults seeing an unknown key id.
 *
 * @example
 * const { privateJwk, publicJwk } = await keyPairFromFile('.webkey-try/pos-key.json');
 */
export async function keyPairFromFile(file: string): Promise<VendorKeyPair> {
  const path = resolve(file);
  if (!existsSync(path)) {
    const keys = await generateVendorKeyPair();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${JSON.stringify(keys.privateJwk, null, 2)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return keys;
  }
  const privateJwk = JSON.parse(readFileSync(path, 'utf8')) as JWK;
  if (typeof privateJwk.d !== 'string') {
    throw new Error(`${path} does not hold a private JWK (no "d" member)`);
  }
  const publicJwk: JWK = Object.fromEntries(
    Object.entries(privateJwk).filter(([member]) => !PRIVATE_MEMBERS.has(member)),
  );
  if (publicJwk.kid === undefined) {
    const kid = await calculateJwkThumbprint(publicJwk);
    publicJwk.kid = kid;
    privateJwk.kid = kid;
  }
  return { privateJwk, publicJwk };
}

/**
 * Reads the POS's configuration from WEBKEY_POS_* variables (for running server.ts directly).
 *
 * @example
 * const options = posOptionsFromEnv({ WEBKEY_POS_TRUSTED_ISSUERS: 'https://vault.example' });
 */
export function posOptionsFromEnv(env: NodeJS.ProcessEnv): StartPosOptions {
  const issuers = (env.WEBKEY_POS_TRUSTED_ISSUERS ?? '')
    .split(',')
    .map((issuer) => issuer.trim())
    .filter(Boolean);
  if (issuers.length === 0) {
    throw new Error('WEBKEY_POS_TRUSTED_ISSUERS: list the vaults to accept, comma-separated');
  }
  const port = Number(env.WEBKEY_POS_PORT ?? '7430');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error('WEBKEY_POS_PORT: must be a port number (0 to 65535)');
  }
  return {
    port,
    host: env.WEBKEY_POS_HOST || '127.0.0.1',
    name: env.WEBKEY_POS_NAME || 'Acme Optics',
    trust: { issuers },
    devHttp: !env.WEBKEY_POS_PUBLIC_URL,
    ...(env.WEBKEY_POS_PUBLIC_URL ? { publicUrl: env.WEBKEY_POS_PUBLIC_URL } : {}),
    ...(env.WEBKEY_POS_KEY_FILE ? { keyFile: env.WEBKEY_POS_KEY_FILE } : {}),
  };
}

async function main(): Promise<void> {
  const pos = await startPos(posOptionsFromEnv(process.env));
  process.stdout.write(`POS counter  ${pos.url}\nVendor id    ${pos.vendorId}\n`);
  const stop = () => {
    pos.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`webkey pos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
