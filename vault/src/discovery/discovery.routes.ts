import {
  CATEGORIES,
  CLIENT_ASSERTION_ALGORITHMS,
  DERIVED_CLAIMS,
  SHORT_CODE_SYMBOLS,
  VAULT_METADATA_PATH,
  type VaultMetadata,
  WEBKEY_LIFETIME,
  WEBKEY_SIGNING_ALGORITHMS,
} from '@webkey/protocol';
import { Hono } from 'hono';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { buildOpenApi } from './openapi.ts';

/** Paths of the vault's public documents. */
export const JWKS_PATH = '/.well-known/jwks.json';
export const REDEMPTION_PATH = '/vendor/v1/redeem';
export const OPENAPI_PATH = '/openapi.json';
export const GRANT_READ_PATH = '/vendor/v1/grants/read';
export const DEPOSIT_PATH = '/vendor/v1/deposit';

/** The discovery document: everything a vendor needs to talk to this vault. */
export function vaultMetadata(origin: string): VaultMetadata {
  return {
    issuer: origin,
    jwks_uri: `${origin}${JWKS_PATH}`,
    redemption_endpoint: `${origin}${REDEMPTION_PATH}`,
    scopes_supported: CATEGORIES.map((category) =>
      ['profile', 'contact', 'preferences'].includes(category) ? category : `${category}.<label>`,
    ),
    claims_supported: [...DERIVED_CLAIMS],
    webkey_signing_alg_values_supported: [...WEBKEY_SIGNING_ALGORITHMS],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGORITHMS],
    short_code_symbols: SHORT_CODE_SYMBOLS,
    webkey_max_lifetime_seconds: WEBKEY_LIFETIME.max,
    openapi_uri: `${origin}${OPENAPI_PATH}`,
    grant_read_endpoint: `${origin}${GRANT_READ_PATH}`,
    deposit_endpoint: `${origin}${DEPOSIT_PATH}`,
  };
}

/** Public documents: discovery, JWKS, OpenAPI. Cacheable, no credentials. */
export function discoveryRoutes(ctx: VaultContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const metadata = vaultMetadata(ctx.origin);
  // Built on first request, not at start-up: few clients ask for it.
  let openApi: Record<string, unknown> | undefined;
  app.get(VAULT_METADATA_PATH, (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json(metadata);
  });
  app.get(JWKS_PATH, async (c) => {
    // Short: a rotation must reach vendors well within the old key's grace period.
    c.header('cache-control', 'public, max-age=300');
    return c.json(await ctx.signer.jwks());
  });
  app.get(OPENAPI_PATH, (c) => {
    openApi ??= buildOpenApi(ctx.origin);
    return c.json(openApi);
  });
  return app;
}
