import { z } from 'zod';
import { DEPOSIT_KINDS, MAX_GRANT_DAYS, WEBKEY_LIFETIME, WEBKEY_USES } from './federation.ts';
import { CATEGORIES } from './paths.ts';

/**
 * Shapes of the vault's customer API answers, shared by the vault (which produces them) and
 * clients and tests (which parse them).
 */

/** One version of a record as the customer API returns it. */
export const recordVersionSchema = z.object({
  path: z.string(),
  category: z.enum(CATEGORIES),
  /** Opaque id of this version; the ETag of the record at this version. */
  versionId: z.string(),
  /** 1 for the first write, incremented by every later write (including deletion). */
  version: z.number().int().positive(),
  /** True for the version that deleted the record; it has no content. */
  deleted: z.boolean(),
  content: z.unknown().nullable(),
  createdAt: z.string(),
});

/** A record version. */
export type RecordVersion = z.infer<typeof recordVersionSchema>;

/** A passkey as the customer sees it in their device list. */
export const passkeySummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  backedUp: z.boolean(),
  deviceType: z.enum(['singleDevice', 'multiDevice']),
  transports: z.array(z.string()),
});

/** A passkey summary. */
export type PasskeySummary = z.infer<typeof passkeySummarySchema>;

/** A web key as its customer sees it in their list of keys. */
export const webkeySummarySchema = z.object({
  id: z.string(),
  scope: z.array(z.string()),
  purpose: z.string(),
  audience: z.string().nullable(),
  issuedAt: z.string(),
  expiresAt: z.string(),
  usesTotal: z.number().int(),
  usesLeft: z.number().int(),
  status: z.enum(['active', 'used', 'expired', 'revoked']),
  /** Days of standing re-reads a redemption grants the vendor, or null for a one-off handover. */
  grantDays: z.number().int().nullable(),
  revokedAt: z.string().nullable(),
  lastRedeemedAt: z.string().nullable(),
  lastVendor: z.object({ id: z.string(), name: z.string() }).nullable(),
});
/** A web key summary. */
export type WebkeySummary = z.infer<typeof webkeySummarySchema>;

/** A freshly issued key in every form the counter needs; shown once (the vault keeps no token). */
export const issuedWebkeySchema = webkeySummarySchema.extend({
  /** The web key itself: a compact JWS, also the QR code's content. */
  key: z.string(),
  shortCode: z.string(),
  qr: z.object({ svg: z.string(), png: z.string(), version: z.number().int() }),
});
/** An issued web key. */
export type IssuedWebkey = z.infer<typeof issuedWebkeySchema>;

/** What a customer asks for when issuing a key. */
export const issueWebkeyRequestSchema = z.strictObject({
  scope: z.array(z.string().max(64)).min(1).max(32),
  purpose: z.string().trim().min(1).max(200),
  /** A vendor id to bind the key to; null or absent: any authenticated vendor. */
  audience: z.string().max(2048).nullable().default(null),
  lifetimeSeconds: z
    .number()
    .int()
    .min(WEBKEY_LIFETIME.min)
    .max(WEBKEY_LIFETIME.max)
    .default(WEBKEY_LIFETIME.default),
  uses: z.number().int().min(1).max(WEBKEY_USES.max).default(WEBKEY_USES.default),
  /**
   * Make the handover a standing grant: after redeeming, the vendor may re-read the same scope
   * for this many days (at most a year) until the customer revokes it.
   */
  grantDays: z.number().int().min(1).max(MAX_GRANT_DAYS).nullable().default(null),
  /** Kinds of records the grant lets the vendor deposit (needs grantDays). */
  grantWrites: z.array(z.enum(DEPOSIT_KINDS)).max(DEPOSIT_KINDS.length).default([]),
});
/** A key request, after defaults. */
export type IssueWebkeyRequest = z.output<typeof issueWebkeyRequestSchema>;

/** A standing grant as its customer sees it. */
export const grantSummarySchema = z.object({
  id: z.string(),
  vendor: z.object({ id: z.string(), name: z.string() }),
  scope: z.array(z.string()),
  /** Kinds of records the vendor may deposit. */
  writes: z.array(z.string()),
  purpose: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
  lastReadAt: z.string().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
  /** Whether the vendor asked to be told of changes (its metadata names a webhook). */
  notifies: z.boolean(),
  /** Change notifications to the vendor under this grant (in lists). */
  deliveries: z
    .object({
      delivered: z.number().int(),
      pending: z.number().int(),
      dropped: z.number().int(),
      lastDeliveredAt: z.string().nullable(),
    })
    .optional(),
});
/** A grant summary. */
export type GrantSummary = z.infer<typeof grantSummarySchema>;

/** A record a vendor deposited, as the customer sees it in the inbox or their documents. */
export const depositSummarySchema = z.object({
  id: z.string(),
  vendor: z.object({ id: z.string(), name: z.string() }),
  grantId: z.string(),
  kind: z.string(),
  ref: z.string(),
  version: z.number().int(),
  content: z.unknown(),
  status: z.enum(['pending', 'accepted', 'discarded']),
  receivedAt: z.string(),
  decidedAt: z.string().nullable(),
});
/** A deposit summary. */
export type DepositSummary = z.infer<typeof depositSummarySchema>;
