import type { VaultMetadata } from '@webkey/protocol';
import { jwksSchema, VAULT_METADATA_PATH, vaultMetadataSchema } from '@webkey/protocol';
import type { JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors } from 'jose';
import { VaultResponseError } from './errors.ts';
import { quote } from './quote.ts';
import type { SenderDeps } from './retrying-sender.ts';
import { sendWithRetries } from './retrying-sender.ts';
import { errorFromResponse, MAX_DOCUMENT_BYTES, readBody, requestIdOf } from './vault-answers.ts';

/**
 * What the SDK knows about each vault: its discovery document and signing keys, fetched through
 * the injected fetch and cached per issuer. The cache holds only public documents.
 */

/** A cached value and when it was fetched (clock milliseconds). */
interface Cached<T> {
  value: T;
  fetchedAt: number;
}

/** How long discovery documents and key sets are reused. @example DIRECTORY_CACHE_MS // 300000 */
export const DIRECTORY_CACHE_MS = 5 * 60_000;
/**
 * The least time between two key-set fetches for an unknown `kid` (bounds refetch floods).
 *
 * @example
 * JWKS_REFRESH_COOLDOWN_MS // 30000
 */
export const JWKS_REFRESH_COOLDOWN_MS = 30_000;

/**
 * The discovery URL of an issuer: `{issuer}/.well-known/webkey-vault`.
 *
 * @example
 * discoveryUrl('https://vault.example') // 'https://vault.example/.well-known/webkey-vault'
 */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}${VAULT_METADATA_PATH}`;
}

/** The URLs of a discovery document that the SDK (or a client) sends requests to. */
function endpointsOf(metadata: VaultMetadata): string[] {
  return [
    metadata.jwks_uri,
    metadata.redemption_endpoint,
    metadata.grant_read_endpoint,
    metadata.deposit_endpoint,
    metadata.openapi_uri,
  ].filter((url): url is string => url !== undefined);
}

function sameOrigin(url: string, issuer: string): boolean {
  try {
    return new URL(url).origin === new URL(issuer).origin;
  } catch {
    return false;
  }
}

/**
 * Runs `fetch` for `key` unless a run for it is under way, whose outcome is then shared. A shared
 * run takes no caller's abort signal (one caller giving up must not fail the others): each caller
 * stops waiting on its own (untilAborted), and the run ends by the sender's attempt timeouts.
 */
function shared<T>(running: Map<string, Promise<T>>, key: string, fetch: () => Promise<T>) {
  const current = running.get(key);
  if (current) return current;
  const started = fetch().finally(() => running.delete(key));
  running.set(key, started);
  return started;
}

/** `promise`, or the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * Discovery and key sets of the vaults a client talks to.
 *
 * @example
 * const directory = new VaultDirectory(deps);
 * const metadata = await directory.metadata('https://vault.example');
 */
export class VaultDirectory {
  readonly #deps: SenderDeps;
  readonly #metadata = new Map<string, Cached<VaultMetadata>>();
  readonly #keys = new Map<string, Cached<JWTVerifyGetKey>>();
  /** Fetches under way, per issuer: concurrent calls share one instead of each fetching. */
  readonly #metadataFetches = new Map<string, Promise<VaultMetadata>>();
  readonly #keyFetches = new Map<string, Promise<JWTVerifyGetKey>>();
  /**
   * When each issuer's key set was last refetched for an unknown `kid`, failures included (the
   * cooldown). Routine fetches (an empty or expired cache) do not count: a key signed with a
   * new `kid` just after one must still get its refetch.
   */
  readonly #refetchedAt = new Map<string, number>();

  constructor(deps: SenderDeps) {
    this.#deps = deps;
  }

  /**
   * The vault's discovery document. Its `issuer` must equal `issuer` exactly, or a vault could
   * mint keys in another vault's name.
   */
  async metadata(issuer: string, signal?: AbortSignal): Promise<VaultMetadata> {
    const cached = this.#fresh(this.#metadata.get(issuer));
    if (cached) return cached;
    const fetching = shared(this.#metadataFetches, issuer, async () => {
      const response = await this.#get(discoveryUrl(issuer));
      const metadata = await readBody(
        response,
        vaultMetadataSchema,
        'discovery document',
        MAX_DOCUMENT_BYTES,
      );
      const refused = (why: string) =>
        new VaultResponseError(
          `The discovery document at ${discoveryUrl(issuer)} ${why}; refused.`,
          {
            code: 'unexpected_response',
            status: response.status,
            requestId: requestIdOf(response),
          },
        );
      if (metadata.issuer !== issuer) {
        throw refused(`names the issuer ${quote(metadata.issuer)}, not ${quote(issuer)}`);
      }
      // Keys, assertions and customers' data go to these URLs: a document that sent them to
      // another host (tampered with, or a vault's mistake) would hand them to that host.
      const foreign = endpointsOf(metadata).find((url) => !sameOrigin(url, issuer));
      if (foreign !== undefined) {
        throw refused(`sends requests to ${quote(foreign)}, off the issuer's origin`);
      }
      this.#metadata.set(issuer, { value: metadata, fetchedAt: this.#now() });
      return metadata;
    });
    return untilAborted(fetching, signal);
  }

  /**
   * A jose key resolver for the vault's web keys. A `kid` not in the cached set triggers one
   * refetch (key rotation), at most once per cooldown.
   */
  keyResolver(metadata: VaultMetadata, signal?: AbortSignal): JWTVerifyGetKey {
    return async (header, token) => {
      const keySet =
        this.#fresh(this.#keys.get(metadata.issuer)) ?? (await this.#fetchKeys(metadata, signal));
      try {
        return await keySet(header, token);
      } catch (error) {
        // Once per cooldown, whoever asks and however the last try ended: anyone can send a
        // webhook naming a made-up kid, and each must not cost the vault (and us) a fetch.
        const triedAt = this.#refetchedAt.get(metadata.issuer) ?? Number.NEGATIVE_INFINITY;
        const stale = this.#now() - triedAt >= JWKS_REFRESH_COOLDOWN_MS;
        if (!(error instanceof errors.JWKSNoMatchingKey) || !stale) throw error;
        this.#refetchedAt.set(metadata.issuer, this.#now());
        // Past any HTTP cache (protocol 4): a cached copy is the one that lacks the kid.
        return (await this.#fetchKeys(metadata, signal, { 'cache-control': 'no-cache' }))(
          header,
          token,
        );
      }
    };
  }

  #fetchKeys(
    metadata: VaultMetadata,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<JWTVerifyGetKey> {
    const fetching = shared(this.#keyFetches, metadata.issuer, async () => {
      const response = await this.#get(metadata.jwks_uri, headers);
      const jwks = await readBody(response, jwksSchema, 'key set', MAX_DOCUMENT_BYTES);
      const keySet = createLocalJWKSet(jwks);
      this.#keys.set(metadata.issuer, { value: keySet, fetchedAt: this.#now() });
      return keySet;
    });
    return untilAborted(fetching, signal);
  }

  async #get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await sendWithRetries(this.#deps, {
      url,
      method: 'GET',
      headers: { accept: 'application/json', ...headers },
      maxBytes: MAX_DOCUMENT_BYTES,
    });
    if (response.status !== 200)
      throw await errorFromResponse(response, undefined, this.#deps.clock());
    return response;
  }

  #fresh<T>(cached: Cached<T> | undefined): T | undefined {
    if (cached === undefined || this.#now() - cached.fetchedAt >= DIRECTORY_CACHE_MS)
      return undefined;
    return cached.value;
  }

  #now(): number {
    return this.#deps.clock().getTime();
  }
}
