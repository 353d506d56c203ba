import type { VaultMetadata } from '@webkey/protocol';
import { jwksSchema, VAULT_METADATA_PATH, vaultMetadataSchema } from '@webkey/protocol';
import type { JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors } from 'jose';
import { VaultResponseError } from './errors.ts';
import type { SenderDeps } from './retrying-sender.ts';
import { sendWithRetries } from './retrying-sender.ts';
import { errorFromResponse, readBody, requestIdOf } from './vault-answers.ts';

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
    const response = await this.#get(discoveryUrl(issuer), signal);
    const metadata = await readBody(response, vaultMetadataSchema, 'discovery document');
    if (metadata.issuer !== issuer) {
      throw new VaultResponseError(
        `The discovery document at ${discoveryUrl(issuer)} names the issuer ${metadata.issuer}, not ${issuer}; refused.`,
        { code: 'unexpected_response', status: response.status, requestId: requestIdOf(response) },
      );
    }
    this.#metadata.set(issuer, { value: metadata, fetchedAt: this.#now() });
    return metadata;
  }

  /**
   * A jose key resolver for the vault's web keys. A `kid` not in the cached set triggers one
   * refetch (key rotation), at most once per cooldown.
   */
  keyResolver(metadata: VaultMetadata, signal?: AbortSignal): JWTVerifyGetKey {
    return async (header, token) => {
      const cached = this.#keys.get(metadata.issuer);
      const keySet = this.#fresh(cached) ?? (await this.#fetchKeys(metadata, signal));
      try {
        return await keySet(header, token);
      } catch (error) {
        const stale = cached && this.#now() - cached.fetchedAt >= JWKS_REFRESH_COOLDOWN_MS;
        if (!(error instanceof errors.JWKSNoMatchingKey) || !stale) throw error;
        return (await this.#fetchKeys(metadata, signal))(header, token);
      }
    };
  }

  async #fetchKeys(metadata: VaultMetadata, signal?: AbortSignal): Promise<JWTVerifyGetKey> {
    const response = await this.#get(metadata.jwks_uri, signal);
    const jwks = await readBody(response, jwksSchema, 'key set');
    const keySet = createLocalJWKSet(jwks);
    this.#keys.set(metadata.issuer, { value: keySet, fetchedAt: this.#now() });
    return keySet;
  }

  async #get(url: string, signal?: AbortSignal): Promise<Response> {
    const response = await sendWithRetries(this.#deps, {
      url,
      method: 'GET',
      headers: { accept: 'application/json' },
      ...(signal === undefined ? {} : { signal }),
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
