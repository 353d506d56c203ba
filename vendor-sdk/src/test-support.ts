import type { VaultMetadata } from '@webkey/protocol';
import { onTestFinished } from 'vitest';
import type { TestVault, TestVaultOptions } from './testing/index.ts';
import { startTestVault, testVendor } from './testing/index.ts';
import type { TestVendor } from './testing/test-vendor.ts';
import type { VendorClientOptions } from './vendor-client.ts';
import { VendorClient } from './vendor-client.ts';

/** A vendor, a test vault that knows it, and a client whose HTTP calls and waits are recorded. */
export interface Harness {
  vendor: TestVendor;
  vault: TestVault;
  client: VendorClient;
  /** Every fetch the client made: `METHOD url`. */
  fetches: string[];
  /** Every backoff the client asked for, in ms (the sleep itself is a no-op). */
  sleeps: number[];
  /** Builds another client on the same vendor, vault and recorders. */
  makeClient(overrides?: Partial<VendorClientOptions>): VendorClient;
}

/**
 * Starts a harness; the vault closes when the test finishes.
 *
 * @example
 * const { vault, client } = await harness({ records: { profile: { legalName: 'Ada' } } });
 */
export async function harness(
  vaultOptions: TestVaultOptions = {},
  clientOptions: Partial<VendorClientOptions> = {},
): Promise<Harness> {
  const vendor = await testVendor();
  const vault = await startTestVault({ vendorKeys: vendor.vendorKeys, ...vaultOptions });
  onTestFinished(() => vault.close());
  const fetches: string[] = [];
  const sleeps: number[] = [];
  const makeClient = (overrides: Partial<VendorClientOptions> = {}) =>
    new VendorClient({
      clientId: vendor.vendorId,
      privateKey: vendor.privateJwk,
      trust: { issuers: [vault.issuer] },
      fetch: (url, init) => {
        fetches.push(`${init.method} ${url}`);
        return fetch(url, init);
      },
      retry: {
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      },
      ...clientOptions,
      ...overrides,
    });
  return { vendor, vault, client: makeClient(), fetches, sleeps, makeClient };
}

/**
 * A vault's discovery document at `issuer`, for tests that answer fetches by hand.
 *
 * @example
 * if (url.endsWith(VAULT_METADATA_PATH)) return Response.json(discoveryDocument(issuer));
 */
export function discoveryDocument(
  issuer: string,
  extra: Partial<VaultMetadata> = {},
): VaultMetadata {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    redemption_endpoint: `${issuer}/vendor/v1/redeem`,
    scopes_supported: [],
    claims_supported: [],
    webkey_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256'],
    short_code_symbols: 12,
    webkey_max_lifetime_seconds: 86400,
    ...extra,
  };
}

/** A valid home address record. */
export const HOME = {
  recipient: 'Ada Lovelace',
  lines: ['12 St James Square'],
  locality: 'London',
  postalCode: 'SW1Y 4JH',
  country: 'GB',
};
