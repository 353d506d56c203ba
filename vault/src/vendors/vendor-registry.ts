import { isVendorIdSyntax, type VendorMetadata, vendorMetadataSchema } from '@webkey/protocol';
import type { Clock } from '../deps.ts';
import type { JsonFetcher } from './safe-fetch.ts';

/** A vendor whose metadata document could not be used; the reason is for logs and audit. */
export class VendorMetadataError extends Error {
  override name = 'VendorMetadataError';
}

const DEFAULT_TTL_MS = 5 * 60 * 1000;
const MAX_TTL_MS = 60 * 60 * 1000;
const MIN_REFRESH_MS = 30 * 1000;
const MAX_ENTRIES = 10_000;
/** How long a vendor id whose document could not be used is answered from memory. */
const FAILURE_TTL_MS = 30 * 1000;
/** Fetches at once of vendors without a cached document, in all and to one host. */
const MAX_FETCHES = 32;
const MAX_FETCHES_PER_HOST = 4;

interface CacheEntry {
  metadata: VendorMetadata;
  fetchedAt: number;
  expiresAt: number;
}

function ttlFrom(cacheControl: string | undefined): number {
  const maxAge = cacheControl && /max-age=(\d+)/.exec(cacheControl)?.[1];
  if (!maxAge) return DEFAULT_TTL_MS;
  return Math.min(Math.max(Number(maxAge) * 1000, MIN_REFRESH_MS), MAX_TTL_MS);
}

/** Adds to a map kept in insertion order, dropping the oldest entry past MAX_ENTRIES. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= MAX_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}

/**
 * Vendors, known by the URL of their metadata document. No registration: the document is fetched
 * (safely) on first use and cached for its max-age (30 s to 1 h, default 5 min).
 *
 * Anyone can name any URL as a vendor id, and its document is needed before the assertion's
 * signature can be checked, so fetching is bounded: a document that could not be used is not
 * fetched again for 30 s, and at most 32 fetches of vendors the vault does not know yet run at
 * once (4 to one host); a request beyond that is refused, not queued, so the vault cannot be
 * made to send a flood of requests elsewhere. Vendors it has a document for (fresh or not) are
 * not held to those caps: their refetches come at most every 30 s each, and strangers filling
 * the caps must not lock them out.
 *
 * A document is needed before any signature can be checked, so a stranger's is cached too, but
 * apart: documents of vendors whose requests succeeded ({@link confirm}) are kept in a cache of
 * their own, least recently used first out, which other documents cannot evict.
 * Otherwise 10,000 strangers' ids (one wildcard DNS name) would push a real vendor out, and
 * strangers holding the fetch caps would then lock it out. And a vendor some customer has a
 * grant with is exempt from the caps whatever the caches hold ({@link isRelated}).
 */
export class VendorRegistry {
  /** Documents of vendors whose requests succeeded, in order of last use. */
  readonly #cache = new Map<string, CacheEntry>();
  /** Documents of vendors with no successful request (yet). */
  readonly #unconfirmed = new Map<string, CacheEntry>();
  readonly #failures = new Map<string, { error: VendorMetadataError; until: number }>();
  readonly #inFlight = new Map<string, Promise<VendorMetadata>>();
  /** Fetches in flight of vendors without a cached document, in all and by host. */
  #unknownFetches = 0;
  readonly #fetchesByHost = new Map<string, number>();

  /**
   * @param isRelated whether some customer has a standing relationship with a vendor (a grant):
   *   such a vendor is held to no fetch cap even when neither cache has its document.
   */
  constructor(
    private readonly fetchJson: JsonFetcher,
    private readonly clock: Clock,
    private readonly devMode: boolean,
    private readonly isRelated: (vendorId: string) => Promise<boolean> = async () => false,
  ) {}

  /**
   * The vendor's metadata, from cache or freshly fetched.
   * `refresh` forces a new fetch (when an assertion names a key we do not have), at most once per 30 s.
   */
  async get(vendorId: string, options: { refresh?: boolean } = {}): Promise<VendorMetadata> {
    if (!isVendorIdSyntax(vendorId, this.devMode))
      throw new VendorMetadataError('not a vendor id URL');
    const now = this.clock().getTime();
    const confirmed = this.#cache.get(vendorId);
    if (confirmed) remember(this.#cache, vendorId, confirmed);
    const cached = confirmed ?? this.#unconfirmed.get(vendorId);
    const stale = !cached || cached.expiresAt <= now;
    const refreshAllowed = options.refresh && cached && now - cached.fetchedAt >= MIN_REFRESH_MS;
    if (cached && !stale && !refreshAllowed) return cached.metadata;
    const pending = this.#inFlight.get(vendorId);
    if (pending) return pending;
    const failed = this.#failures.get(vendorId);
    if (failed && failed.until > now) throw failed.error;
    const host = new URL(vendorId).host;
    const fromHost = this.#fetchesByHost.get(host) ?? 0;
    let counted = !cached;
    if (!cached && (this.#unknownFetches >= MAX_FETCHES || fromHost >= MAX_FETCHES_PER_HOST)) {
      // Only when the caps are full (strangers filling them, say), so the lookup is rare.
      const related = await this.isRelated(vendorId).catch(() => false);
      if (!related)
        throw new VendorMetadataError('too many vendor documents being fetched; try again');
      counted = false;
      // Another request may have started the fetch meanwhile.
      const started = this.#inFlight.get(vendorId);
      if (started) return started;
    }
    if (counted) {
      this.#unknownFetches += 1;
      this.#fetchesByHost.set(host, fromHost + 1);
    }
    const fetching = this.fetchMetadata(vendorId)
      .catch((error: unknown) => {
        if (error instanceof VendorMetadataError) {
          remember(this.#failures, vendorId, {
            error,
            until: this.clock().getTime() + FAILURE_TTL_MS,
          });
        }
        throw error;
      })
      .finally(() => {
        this.#inFlight.delete(vendorId);
        if (!counted) return;
        this.#unknownFetches -= 1;
        const left = (this.#fetchesByHost.get(host) ?? 1) - 1;
        if (left > 0) this.#fetchesByHost.set(host, left);
        else this.#fetchesByHost.delete(host);
      });
    this.#inFlight.set(vendorId, fetching);
    return fetching;
  }

  private async fetchMetadata(vendorId: string): Promise<VendorMetadata> {
    let answer: Awaited<ReturnType<JsonFetcher>>;
    try {
      answer = await this.fetchJson(vendorId);
    } catch (error) {
      throw new VendorMetadataError(`metadata fetch failed: ${(error as Error).message}`);
    }
    if (answer.status !== 200) throw new VendorMetadataError(`metadata answered ${answer.status}`);
    const parsed = vendorMetadataSchema.safeParse(answer.body);
    if (!parsed.success) {
      throw new VendorMetadataError(
        `metadata is malformed: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    }
    if (parsed.data.vendor_id !== vendorId) {
      throw new VendorMetadataError('metadata vendor_id differs from the URL it was fetched from');
    }
    const now = this.clock().getTime();
    this.#failures.delete(vendorId);
    const entry = {
      metadata: parsed.data,
      fetchedAt: now,
      expiresAt: now + ttlFrom(answer.cacheControl),
    };
    if (this.#cache.has(vendorId)) remember(this.#cache, vendorId, entry);
    else remember(this.#unconfirmed, vendorId, entry);
    return parsed.data;
  }

  /**
   * Marks a vendor's document as one a successful request was authenticated with: it moves to
   * the cache that strangers' documents cannot evict from.
   *
   * @example
   * const metadata = await registry.get(vendorId);
   * // ... a request authenticated with a key of metadata.jwks succeeded:
   * registry.confirm(vendorId, metadata);
   */
  confirm(vendorId: string, metadata: VendorMetadata): void {
    const entry = this.#unconfirmed.get(vendorId);
    if (entry?.metadata !== metadata) return;
    this.#unconfirmed.delete(vendorId);
    remember(this.#cache, vendorId, entry);
  }
}
