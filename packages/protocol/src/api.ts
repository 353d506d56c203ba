import { z } from 'zod';
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
