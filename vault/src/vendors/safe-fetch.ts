import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { LOOPBACK_HOSTS } from '@webkey/protocol';
import { isAllowedAddress } from './address-policy.ts';

/** Refusal of an outbound fetch; the message is for logs, never for the vendor's customers. */
export class OutboundFetchError extends Error {
  override name = 'OutboundFetchError';
}

/** Limits on a request to a URL a vendor controls. */
export interface SafeFetchOptions {
  /** Development mode: http:// and loopback addresses allowed, for vendors under test. */
  allowLoopbackHttp: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  /** The resolver (all addresses of a name); Node's by default. Tests inject DNS answers here. */
  resolve?: (
    hostname: string,
    callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
  ) => void;
}

function systemResolve(
  hostname: string,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
): void {
  dnsLookup(hostname, { all: true }, callback);
}

/** An outbound GET of a JSON document from a vendor's URL; injected so tests can replace it. */
export type JsonFetcher = (
  url: string,
) => Promise<{ status: number; body: unknown; cacheControl?: string }>;

/** An outbound POST to a vendor's URL (webhooks); injected so tests can replace it. */
export type Poster = (
  url: string,
  request: { headers: Record<string, string>; body: string },
) => Promise<{ status: number }>;

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request to a URL a vendor controls, refusing what would let it reach the vault's own
 * network: only https (plain http only for loopback in development mode), no redirects, a size
 * and a time limit, and every address the socket actually connects to checked against the
 * address policy in the DNS lookup itself, so a name that resolves differently between a check
 * and the connection (DNS rebinding) cannot slip through.
 */
async function safeRequest(
  urlText: string,
  request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  options: SafeFetchOptions,
  accept: (status: number, headers: http.IncomingHttpHeaders) => string | undefined,
): Promise<RawAnswer> {
  const url = new URL(urlText);
  const allowLoopback = options.allowLoopbackHttp && LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowLoopback)) {
    throw new OutboundFetchError(`refused ${url.protocol} URL: only https is allowed`);
  }
  if (url.username || url.password) throw new OutboundFetchError('refused URL with credentials');
  // Node skips the lookup for IP literals, so those are checked here.
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0 && !isAllowedAddress(literal, { allowLoopback })) {
    throw new OutboundFetchError(`refused address ${literal}`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 64 * 1024;

  const guardedLookup: LookupFunction = (hostname, lookupOptions, callback) => {
    (options.resolve ?? systemResolve)(hostname, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !isAllowedAddress(a.address, { allowLoopback }));
      if (refused || list.length === 0) {
        return callback(
          new OutboundFetchError(`refused address ${refused?.address ?? 'none'} for ${hostname}`),
          '',
          0,
        );
      }
      if (lookupOptions.all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };

  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(
      url,
      {
        method: request.method,
        headers: { 'user-agent': 'webkey-vault', ...request.headers },
        lookup: guardedLookup,
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          response.resume();
          reject(new OutboundFetchError(`refused redirect (${status})`));
          return;
        }
        const refusal = accept(status, response.headers);
        if (refusal) {
          response.resume();
          reject(new OutboundFetchError(refusal));
          return;
        }
        const declared = Number(response.headers['content-length'] ?? 0);
        if (declared > maxBytes) {
          response.destroy();
          reject(new OutboundFetchError(`refused body of ${declared} bytes`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > maxBytes) {
            response.destroy();
            reject(new OutboundFetchError(`refused body over ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({ status, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    // A whole-request deadline: `timeout` alone only bounds idle gaps, so a slow drip could
    // hold the request open indefinitely.
    const deadline = setTimeout(
      () => outgoing.destroy(new OutboundFetchError(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    outgoing.on('close', () => clearTimeout(deadline));
    outgoing.on('timeout', () =>
      outgoing.destroy(new OutboundFetchError(`timed out after ${timeoutMs} ms`)),
    );
    outgoing.on('error', (error) =>
      reject(error instanceof OutboundFetchError ? error : new OutboundFetchError(error.message)),
    );
    outgoing.end(request.body);
  });
}

/**
 * Fetches JSON from a URL a vendor controls (its metadata document), with every guard of
 * {@link safeRequest} and a JSON content type.
 *
 * @example
 * const { status, body } = await safeFetchJson('https://acme.example/webkey.json', { allowLoopbackHttp: false });
 */
export async function safeFetchJson(
  urlText: string,
  options: SafeFetchOptions,
): Promise<{ status: number; body: unknown; cacheControl?: string }> {
  const answer = await safeRequest(
    urlText,
    { method: 'GET', headers: { accept: 'application/json' } },
    options,
    (status, headers) => {
      const type = headers['content-type'] ?? '';
      return status === 200 && !/^application\/([a-z.+-]*\+)?json\b/i.test(type)
        ? `refused content type ${type}`
        : undefined;
    },
  );
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    throw new OutboundFetchError('the document is not JSON');
  }
  const cacheControl = answer.headers['cache-control'];
  return { status: answer.status, body, ...(cacheControl ? { cacheControl } : {}) };
}

/**
 * Posts to a URL a vendor controls (a webhook), with every guard of {@link safeRequest}; the
 * answer's body is read (up to the limit) and dropped.
 *
 * @example
 * const { status } = await safePost(url, { headers, body }, { allowLoopbackHttp: false });
 */
export async function safePost(
  urlText: string,
  request: { headers: Record<string, string>; body: string },
  options: SafeFetchOptions,
): Promise<{ status: number }> {
  const answer = await safeRequest(
    urlText,
    { method: 'POST', ...request },
    options,
    () => undefined,
  );
  return { status: answer.status };
}
