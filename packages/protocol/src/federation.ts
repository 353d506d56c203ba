import { z } from 'zod';
import { parseScopeItem } from './scopes.ts';

/**
 * The federated protocol's wire shapes: JWT types, vault discovery, vendor metadata, redemption.
 * docs/protocol.md describes them for implementers in other languages.
 */

/** `typ` of a web key (RFC 8725 section 3.11: explicit typing). */
export const WEBKEY_JWT_TYPE = 'webkey+jwt';
/** `typ` of a vendor's client assertion (draft-ietf-oauth-rfc7523bis). */
export const CLIENT_ASSERTION_JWT_TYPE = 'client-authentication+jwt';
/** `typ` of a signed audit checkpoint. */
export const CHECKPOINT_JWT_TYPE = 'webkey-checkpoint+jwt';
/** RFC 7523 section 2.2 client assertion type. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The only algorithm vaults sign web keys and checkpoints with. */
export const WEBKEY_SIGNING_ALGORITHMS = ['ES256'] as const;
/** Algorithms vendors may sign client assertions with. */
export const CLIENT_ASSERTION_ALGORITHMS = ['ES256', 'EdDSA'] as const;
/** The longest a client assertion may live (exp - iat), in seconds. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** The discovery document's path under the issuer. */
export const VAULT_METADATA_PATH = '/.well-known/webkey-vault';

/** Web key lifetime limits, in seconds. */
export const WEBKEY_LIFETIME = { default: 600, max: 24 * 3600, min: 30 } as const;
/** The longest a standing grant can last, in days. */
export const MAX_GRANT_DAYS = 365;

/** Limits on the number of uses of one web key. */
export const WEBKEY_USES = { default: 1, max: 100 } as const;

/**
 * A key's scope (protocol 5.1 to 5.3): 1 to 32 unique items of the scope grammar, each at most
 * 64 characters, with at most one age claim (two thresholds together would disclose the age).
 */
const scopeClaimSchema = z
  .array(
    z
      .string()
      .max(64)
      .refine((item) => parseScopeItem(item) !== undefined, 'not a record path or derived claim'),
  )
  .min(1)
  .max(32)
  .refine((scope) => new Set(scope).size === scope.length, 'scope items must be unique')
  .refine(
    (scope) => scope.filter((item) => parseScopeItem(item)?.kind === 'age_over').length <= 1,
    'at most one profile.age_over_N',
  );

/**
 * The claims of a web key, with the types and ranges of protocol 5.1 (which 5.7 step 4 has a
 * vendor check before redeeming). It carries no personal data and no stable customer identifier.
 */
export const webkeyClaimsSchema = z.object({
  iss: z.string().url(),
  aud: z.string().url().optional(),
  jti: z.string().min(16).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
  scope: scopeClaimSchema,
  /** In the customer's words, trimmed (as the vault stores it): 1 to 200 characters. */
  purpose: z
    .string()
    .min(1)
    .max(200)
    .refine((purpose) => purpose.trim() === purpose, 'no leading or trailing whitespace'),
  uses: z.number().int().min(1).max(WEBKEY_USES.max),
  /** Present when redeeming grants standing re-reads for this many days. */
  grant_days: z.number().int().min(1).max(MAX_GRANT_DAYS).optional(),
  /** Kinds of records the grant lets the vendor deposit. */
  grant_writes: z.array(z.string()).optional(),
});
/** Web key claims. */
export type WebkeyClaims = z.infer<typeof webkeyClaimsSchema>;

/** A public JWK as vendors and vaults publish them (private members are refused). */
export const publicJwkSchema = z
  .looseObject({
    kty: z.enum(['EC', 'OKP']),
    crv: z.enum(['P-256', 'Ed25519']),
    x: z.string(),
    y: z.string().optional(),
    kid: z.string().max(128).optional(),
    alg: z.string().optional(),
    use: z.string().optional(),
  })
  // Loose, so private members are seen (a plain object would strip them) and refused.
  .refine((jwk) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk), {
    message: 'a published key must not hold its private part',
  });

/** A JSON Web Key Set of public keys. */
export const jwksSchema = z.object({ keys: z.array(publicJwkSchema).min(1).max(10) });

/**
 * The name customers see for a vendor. Control and invisible formatting characters (bidi
 * overrides, zero-width characters) are refused: they make one name look like another, and any
 * vendor can publish a document under any name.
 */
export const vendorNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'no control or invisible formatting characters');

/**
 * A vendor's metadata document, served at the URL that is the vendor's id (in the spirit of the
 * OAuth Client ID Metadata Document draft).
 */
export const vendorMetadataSchema = z.object({
  vendor_id: z.string().url(),
  name: vendorNameSchema,
  logo_uri: z.string().url().optional(),
  jwks: jwksSchema,
  webhook_uri: z.string().url().optional(),
});
/** Vendor metadata. */
export type VendorMetadata = z.infer<typeof vendorMetadataSchema>;

/** A vault's discovery document at `<issuer>/.well-known/webkey-vault`. */
export const vaultMetadataSchema = z.object({
  issuer: z.string().url(),
  jwks_uri: z.string().url(),
  redemption_endpoint: z.string().url(),
  scopes_supported: z.array(z.string()),
  claims_supported: z.array(z.string()),
  webkey_signing_alg_values_supported: z.array(z.string()),
  token_endpoint_auth_methods_supported: z.array(z.string()),
  token_endpoint_auth_signing_alg_values_supported: z.array(z.string()),
  short_code_symbols: z.number().int(),
  webkey_max_lifetime_seconds: z.number().int(),
  openapi_uri: z.string().url().optional(),
  grant_read_endpoint: z.string().url().optional(),
  deposit_endpoint: z.string().url().optional(),
});
/** Vault metadata. */
export type VaultMetadata = z.infer<typeof vaultMetadataSchema>;

/** The body of a redemption request: a web key (compact JWS) or its short code, and the vendor's assertion. */
export const redemptionRequestSchema = z
  .strictObject({
    key: z.string().min(1).max(4096).optional(),
    code: z.string().min(1).max(64).optional(),
    client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE),
    client_assertion: z.string().min(1).max(8192),
  })
  .refine((body) => (body.key === undefined) !== (body.code === undefined), {
    message: 'send exactly one of key and code',
  });
/** A redemption request. */
export type RedemptionRequest = z.infer<typeof redemptionRequestSchema>;

/** One granted record in a redemption: its category, version id and value. */
export const grantedFieldSchema = z.object({
  category: z.string(),
  versionId: z.string(),
  value: z.unknown(),
});

/** A successful redemption's answer. */
export const redemptionResponseSchema = z.object({
  redemptionId: z.string(),
  keyId: z.string(),
  issuer: z.string().url(),
  /** The customer as this vendor sees them: stable for this vendor, unlinkable across vendors. */
  subject: z.string(),
  redeemedAt: z.string(),
  purpose: z.string(),
  scope: z.array(z.string()),
  usesLeft: z.number().int().min(0),
  auditEntryId: z.string(),
  fields: z.record(z.string(), grantedFieldSchema),
  claims: z.record(z.string(), z.boolean()),
  /** Scope items the customer has no data for (a path never written, a claim without a birth date). */
  missing: z.array(z.string()),
  /** The web key itself (compact JWS), so a short-code redemption can be verified too. */
  key: z.string(),
  /** Present when the key made a standing grant: re-read with its id until it expires. */
  grant: z
    .object({ id: z.string(), expiresAt: z.string(), writes: z.array(z.string()).optional() })
    .optional(),
});
/** A redemption answer. */
export type RedemptionResponse = z.infer<typeof redemptionResponseSchema>;

/** The body of a standing grant re-read: the grant's id and the vendor's assertion. */
export const grantReadRequestSchema = z.strictObject({
  grant: z.string().min(1).max(64),
  client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE),
  client_assertion: z.string().min(1).max(8192),
});
/** A grant re-read request. */
export type GrantReadRequest = z.infer<typeof grantReadRequestSchema>;

/** A successful re-read under a standing grant: the current data in its scope. */
export const grantReadResponseSchema = z.object({
  grantId: z.string(),
  issuer: z.string().url(),
  subject: z.string(),
  readAt: z.string(),
  purpose: z.string(),
  scope: z.array(z.string()),
  expiresAt: z.string(),
  auditEntryId: z.string(),
  fields: z.record(z.string(), grantedFieldSchema),
  claims: z.record(z.string(), z.boolean()),
  missing: z.array(z.string()),
});
/** A grant re-read answer. */
export type GrantReadResponse = z.infer<typeof grantReadResponseSchema>;

/** The `webhook-signature` version of a vault's ES256 signature (Standard Webhooks style). */
export const WEBHOOK_SIGNATURE_VERSION = 'v1es256';
/** How far a webhook's timestamp may be from the receiver's clock, in seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * A change notification under a standing grant. Thin on purpose: no personal data, only which
 * paths changed; the vendor re-reads the grant to get the data.
 */
export const webhookEventSchema = z.object({
  id: z.string(),
  type: z.literal('grant.data_changed'),
  issuer: z.string().url(),
  grantId: z.string(),
  /** Scope items whose value may have changed (paths, and claims derived from them). */
  paths: z.array(z.string()),
  occurredAt: z.string(),
  /**
   * The vendor id the notification is for: any vendor can name any URL as its webhook, another
   * vendor's included. Absent from vaults before 2026-12-03.
   */
  vendor: z.string().optional(),
});
/** A webhook event. */
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

/** `typ` of a record a vendor deposits into a customer's vault, signed with the vendor's key. */
export const DEPOSIT_JWT_TYPE = 'webkey-deposit+jwt';

/** Kinds of records vendors produce and may deposit under a grant that allows it. */
export const DEPOSIT_KINDS = [
  'receipt',
  'order',
  'service_ticket',
  'prescription',
  'policy_document',
] as const;
/** A deposit kind. */
export type DepositKind = (typeof DEPOSIT_KINDS)[number];

/**
 * The content of a deposited record: a title, when it happened, optional lines and amounts, and
 * free-form details. Strict, and small: a receipt is not a database.
 */
export const depositContentSchema = z.strictObject({
  title: z.string().trim().min(1).max(200),
  issuedOn: z.iso.date(),
  lines: z
    .array(
      z.strictObject({
        description: z.string().trim().min(1).max(200),
        quantity: z.number().positive().max(1e6).optional(),
        amount: z
          .string()
          .regex(/^-?\d{1,12}(\.\d{1,4})?$/)
          .optional(),
      }),
    )
    .max(100)
    .optional(),
  total: z
    .strictObject({
      amount: z.string().regex(/^-?\d{1,12}(\.\d{1,4})?$/),
      currency: z.string().regex(/^[A-Z]{3}$/),
    })
    .optional(),
  details: z
    .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,39}$/), z.string().max(2000))
    .optional(),
});
/** Deposited content. */
export type DepositContent = z.infer<typeof depositContentSchema>;

/** The claims of a deposit JWS (typ webkey-deposit+jwt), signed by the vendor. */
export const depositClaimsSchema = z.object({
  iss: z.string().url(),
  aud: z.string().url(),
  iat: z.number().int(),
  jti: z.string().min(16).max(128),
  grant: z.string().min(1).max(64),
  kind: z.enum(DEPOSIT_KINDS),
  /** The vendor's own id for the record; depositing the same ref again makes a new version. */
  ref: z.string().min(1).max(100),
  content: depositContentSchema,
});
/** Deposit claims. */
export type DepositClaims = z.infer<typeof depositClaimsSchema>;

/** The body of a deposit request. */
export const depositRequestSchema = z.strictObject({
  deposit: z.string().min(1).max(65536),
  client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE),
  client_assertion: z.string().min(1).max(8192),
});

/** A deposit's receipt. */
export const depositResponseSchema = z.object({
  depositId: z.string(),
  ref: z.string(),
  version: z.number().int().positive(),
  status: z.literal('pending'),
  auditEntryId: z.string(),
});
/** A deposit receipt. */
export type DepositResponse = z.infer<typeof depositResponseSchema>;

/**
 * Host names (as `URL.hostname` spells them) that name this machine: where plain http is
 * allowed, for a vault or vendor under development.
 */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether `text` can be a vendor id: an https URL, or with `allowLoopbackHttp` plain http on
 * this machine (a vendor under development, which a vault accepts only in development mode),
 * written in its one normal form (`new URL(text).href === text`), with no fragment and no user
 * or password. Vaults and the SDK read vendor ids by this one rule.
 *
 * @example
 * isVendorIdSyntax('https://shop.example/webkey-vendor.json', false) // true
 * isVendorIdSyntax('https://Shop.example/webkey-vendor.json', false) // false: not in normal form
 * isVendorIdSyntax('http://127.0.0.1:8080/vendor.json', true) // true
 */
export function isVendorIdSyntax(text: string, allowLoopbackHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.href !== text || url.hash || url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return allowLoopbackHttp && url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}
