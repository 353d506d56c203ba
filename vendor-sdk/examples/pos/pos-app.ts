import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import {
  type Clock,
  type FetchLike,
  InvalidRequestError,
  RateLimitedError,
  type RetryOptions,
  type TrustPolicy,
  UntrustedIssuerError,
  VaultResponseError,
  VendorAuthenticationError,
  VendorClient,
  vendorMetadataHandler,
} from '../../src/index.ts';
import {
  CLERK_MESSAGES,
  type ClerkRefusal,
  clerkRefusal,
  WEB_KEY_SHAPE,
} from './clerk-messages.ts';

/**
 * The demo point of sale: a vendor app built on `@webkey/vendor-sdk`. It serves its own vendor
 * metadata document, a counter page (plain HTML, CSS and an ES module, no build step), and one
 * endpoint that redeems what the clerk scanned or typed, server-side, with the shop's private
 * key. The browser never sees the key; it only gets the granted fields or a clear refusal.
 *
 * Framework-free on purpose: the app is a `fetch(request) => Response` handler, which mounts in
 * Node (via `@hono/node-server`), Hono (`app.mount('/', pos.fetch)`), Deno, Bun or a worker.
 */

/**
 * How to build the point of sale.
 *
 * @example
 * const { privateJwk, publicJwk } = await generateVendorKeyPair();
 * const pos = createPosApp({
 *   vendorId: 'https://shop.example/webkey-vendor.json',
 *   name: 'Acme Optics',
 *   privateJwk,
 *   publicJwk,
 *   trust: { issuers: ['https://vault.example'] },
 * });
 */
export interface PosAppOptions {
  /** The URL of the metadata document this app serves; it is the shop's vendor id. */
  vendorId: string;
  /** The shop's name: in the page title and in customers' activity logs. */
  name: string;
  /** Signs client assertions; stays on the server. */
  privateJwk: JWK;
  /** Published in the metadata document. */
  publicJwk: JWK;
  /** Which vaults' keys the shop accepts. A list also fills the page's vault picker. */
  trust: TrustPolicy;
  /** Outbound HTTP to vaults; default the global fetch. */
  fetch?: FetchLike;
  clock?: Clock;
  retry?: RetryOptions;
  /** Where unexpected failures are reported (never with customer data); default stderr. */
  log?: (line: string) => void;
}

/**
 * The app: a fetch handler, and `request()` to call it in tests like Hono's `app.request()`.
 *
 * @example
 * const response = await pos.request('/api/redeem', { method: 'POST', body: JSON.stringify({ input }) });
 */
export interface PosApp {
  readonly vendorId: string;
  fetch(request: Request): Promise<Response>;
  request(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * What `POST /api/redeem` answers with `200`. `fields` maps each granted path to its record,
 * parsed with the category's schema by the SDK; `vault` is the issuer that answered.
 *
 * @example
 * const result: RedeemResult = await (await fetch('/api/redeem', ...)).json();
 * result.fields['address.home'] // { lines: [...], locality, country, ... }
 */
export interface RedeemResult {
  fields: Record<string, unknown>;
  claims: Record<string, boolean>;
  missing: string[];
  subject: string;
  auditEntryId: string;
  purpose: string;
  vault: string;
  redeemedAt: string;
  keyId: string;
}

/** The counter page's Content-Security-Policy: nothing inline, nothing from elsewhere. */
export const POS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "media-src 'self' blob:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': POS_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // The camera is used to scan QR codes, by this page only.
  'permissions-policy': 'camera=(self), microphone=(), geolocation=()',
};

/** A web key is at most 4096 characters; a typed short code at most 64. Plus JSON overhead. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_INPUT_CHARS = 8192;

const PUBLIC_DIR = new URL('./public/', import.meta.url);

const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/pos.js': { file: 'pos.js', type: 'text/javascript; charset=utf-8' },
  '/assets/pos.css': { file: 'pos.css', type: 'text/css; charset=utf-8' },
  '/assets/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
};

/**
 * Builds the point of sale app: `GET /` (the counter page), `GET /assets/*`, the metadata
 * document at the vendor id's path, and `POST /api/redeem`.
 *
 * @example
 * const pos = createPosApp({ vendorId, name: 'Acme Optics', privateJwk, publicJwk, trust });
 * createAdaptorServer({ fetch: pos.fetch }).listen(7430, '127.0.0.1');
 */
export function createPosApp(options: PosAppOptions): PosApp {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metadata = vendorMetadataHandler({
    vendorId: options.vendorId,
    name: options.name,
    publicKeys: [options.publicJwk],
  });
  const client = new VendorClient({
    clientId: options.vendorId,
    privateKey: options.privateJwk,
    trust: options.trust,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  const listedVaults = typeof options.trust === 'function' ? [] : [...options.trust.issuers];
  const page = renderCounterPage(options.name, listedVaults);
  const assets = new Map(
    Object.entries(ASSETS).map(([path, { file, type }]) => [
      path,
      { body: readFileSync(new URL(file, PUBLIC_DIR)), type },
    ]),
  );

  async function redeem(request: Request): Promise<Response> {
    const refused = refuseRequest(request);
    if (refused) return refused;
    const body = await readRedeemBody(request);
    if ('error' in body) return json(400, { error: body.error });
    const { input } = body;
    // The vault picked on the page matters for short codes only; a web key names its own vault.
    const issuer = WEB_KEY_SHAPE.test(input.trim()) ? undefined : vaultFromClerk(body.issuer);
    try {
      if (issuer !== undefined && !isHttpUrl(issuer)) throw new UntrustedIssuerError(issuer);
      const redemption = await client.redeem(input, issuer === undefined ? {} : { issuer });
      const fields: Record<string, unknown> = {};
      for (const path of Object.keys(redemption.fields)) fields[path] = redemption.field(path);
      const result: RedeemResult = {
        fields,
        claims: { ...redemption.claims },
        missing: [...redemption.missing],
        subject: redemption.subject,
        auditEntryId: redemption.auditEntryId,
        purpose: redemption.purpose,
        vault: redemption.issuer,
        redeemedAt: redemption.redeemedAt,
        keyId: redemption.keyId,
      };
      return json(200, result);
    } catch (error) {
      const refusal = clerkRefusal(error, input);
      if (refusal === undefined) {
        log(`pos: redeem failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
        return json(500, {
          error: { kind: 'InternalError', message: CLERK_MESSAGES.InternalError },
        });
      }
      if (needsOperator(error)) {
        log(`pos: ${refusal.kind} (request id ${refusal.requestId ?? 'none'})`);
      }
      return json(422, { error: refusal });
    }
  }

  async function handle(request: Request): Promise<Response> {
    const fromMetadata = metadata(request);
    if (fromMetadata) return withSecurityHeaders(fromMetadata);
    const { pathname } = new URL(request.url);
    const readOnly = request.method === 'GET' || request.method === 'HEAD';
    if (pathname === '/api/redeem') {
      if (request.method !== 'POST') return json(405, methodNotAllowedBody(), { allow: 'POST' });
      return redeem(request);
    }
    if (pathname === '/' || pathname === '/index.html') {
      if (!readOnly) return json(405, methodNotAllowedBody(), { allow: 'GET, HEAD' });
      return respond(200, request.method === 'HEAD' ? null : page, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
      });
    }
    const asset = assets.get(pathname);
    if (asset && readOnly) {
      return respond(200, request.method === 'HEAD' ? null : new Uint8Array(asset.body), {
        'content-type': asset.type,
        'cache-control': 'no-cache',
      });
    }
    return json(404, notFoundBody());
  }

  return {
    vendorId: options.vendorId,
    fetch: handle,
    request: (path, init) => handle(new Request(new URL(path, 'http://pos.local'), init)),
  };
}

/** CSRF and content-type guards for the redemption endpoint. */
function refuseRequest(request: Request): Response | undefined {
  const origin = request.headers.get('origin');
  // A page elsewhere must not make the counter redeem keys (its answer holds customer data).
  if (origin !== null && origin !== new URL(request.url).origin) {
    return json(403, {
      error: { kind: 'Forbidden', message: 'Requests from other sites are refused.' },
    });
  }
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return json(415, { error: { kind: 'BadRequest', message: 'Send the key as JSON.' } });
  }
  const length = Number(request.headers.get('content-length') ?? '0');
  if (length > MAX_BODY_BYTES) {
    return json(413, { error: { kind: 'BadRequest', message: 'That is far too long for a key.' } });
  }
  return undefined;
}

async function readRedeemBody(
  request: Request,
): Promise<{ input: string; issuer?: string } | { error: ClerkRefusal }> {
  const bad = (message: string) => ({ error: { kind: 'BadRequest', message } });
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return bad('That is far too long for a key.');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return bad('Send { "input": "..." } as JSON.');
  }
  if (typeof body !== 'object' || body === null) return bad('Send { "input": "..." } as JSON.');
  const { input, issuer } = body as Record<string, unknown>;
  if (typeof input !== 'string' || input.trim() === '') {
    return bad('Paste the web key or type the short code first.');
  }
  if (input.length > MAX_INPUT_CHARS) return bad('That is far too long for a key.');
  if (issuer !== undefined && issuer !== null && typeof issuer !== 'string') {
    return bad('issuer must be a string.');
  }
  return typeof issuer === 'string' ? { input, issuer } : { input };
}

/**
 * The vault the clerk picked, as an issuer: trimmed, and `https://vault.example/` read as the
 * origin `https://vault.example` (issuers are compared as exact strings).
 */
function vaultFromClerk(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  if (!trimmed) return undefined;
  try {
    const url = new URL(trimmed);
    if (url.pathname === '/' && !url.search && !url.hash && trimmed.endsWith('/')) {
      return url.origin;
    }
  } catch {
    // Not a URL: refused as an untrusted vault by the caller.
  }
  return trimmed;
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

/** Failures that are not the customer's doing: the shop's operator needs the request id. */
function needsOperator(error: unknown): boolean {
  return (
    error instanceof VendorAuthenticationError ||
    error instanceof VaultResponseError ||
    error instanceof RateLimitedError ||
    (error instanceof InvalidRequestError && error.code !== 'issuer_required')
  );
}

function methodNotAllowedBody() {
  return { error: { kind: 'MethodNotAllowed', message: 'That method is not used here.' } };
}

function notFoundBody() {
  return { error: { kind: 'NotFound', message: 'There is nothing here.' } };
}

function respond(status: number, body: BodyInit | null, headers: Record<string, string>): Response {
  return new Response(body, { status, headers: { ...SECURITY_HEADERS, ...headers } });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return respond(status, JSON.stringify(body), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
}

function withSecurityHeaders(response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(response.body, { status: response.status, headers });
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and double-quoted attributes. @example escapeHtml('<b>') // '&lt;b&gt;' */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/**
 * The counter page: the template with the shop's name and the trusted vaults filled in, on the
 * server, so nothing inline is needed in the browser.
 */
function renderCounterPage(name: string, vaults: string[]): string {
  const template = readFileSync(new URL('index.html', PUBLIC_DIR), 'utf8');
  const options = vaults.map((vault) => `<option value="${escapeHtml(vault)}"></option>`).join('');
  const values: Record<string, string> = {
    name: escapeHtml(name),
    firstVault: escapeHtml(vaults[0] ?? ''),
    vaultOptions: options,
    vaultCount: String(vaults.length),
  };
  return template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole);
}
