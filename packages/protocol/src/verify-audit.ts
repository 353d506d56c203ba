import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { z } from 'zod';
import { auditEntryHash, auditEntrySchema, auditExportSchema, GENESIS_HASH } from './audit.ts';
import { CHECKPOINT_JWT_TYPE, WEBKEY_SIGNING_ALGORITHMS } from './federation.ts';

/**
 * An export as the verifier reads it: an event may be one this version does not know (vaults
 * add events), since the hash covers whatever the entry says. So a log from a newer vault still
 * verifies with an older @webkey/protocol.
 */
const verifiableExportSchema = auditExportSchema.extend({
  entries: z.array(auditEntrySchema.extend({ event: z.string().min(1).max(100) })),
});

/** The outcome of verifying an audit export. */
export type AuditVerification =
  | { ok: true; entries: number; head: string }
  | {
      ok: false;
      entries: number;
      /** The first entry that does not verify (its position, and its seq and id when it has them). */
      firstBad: { index: number; seq?: number; id?: string; reason: string };
    };

function bad(
  entries: number,
  index: number,
  reason: string,
  entry?: { seq: number; id: string },
): AuditVerification {
  return {
    ok: false,
    entries,
    firstBad: { index, reason, ...(entry ? { seq: entry.seq, id: entry.id } : {}) },
  };
}

/**
 * Verifies an exported audit log: every entry's hash, the links between entries, their
 * numbering, and the vault's signed checkpoint of the head, so an edited, deleted, reordered or
 * truncated entry is detected and the first bad one named.
 *
 * Pass `jwks` fetched from the vault itself when you can; without it the keys embedded in the
 * export are used, which proves integrity against later edits but not who made the export.
 *
 * @example
 * const result = await verifyAuditExport(JSON.parse(text));
 * if (!result.ok) console.log(`entry ${result.firstBad.seq}: ${result.firstBad.reason}`);
 */
export async function verifyAuditExport(
  input: unknown,
  options: { jwks?: JSONWebKeySet } = {},
): Promise<AuditVerification> {
  const parsed = verifiableExportSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const index =
      issue?.path[0] === 'entries' && typeof issue.path[1] === 'number' ? issue.path[1] : -1;
    return bad(0, index, `not an audit export: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const log = parsed.data;
  const count = log.entries.length;

  let checkpoint: { seq: number; head: string };
  try {
    const keys = createLocalJWKSet((options.jwks ?? log.jwks) as JSONWebKeySet);
    const { payload } = await jwtVerify(log.checkpoint, keys, {
      typ: CHECKPOINT_JWT_TYPE,
      algorithms: [...WEBKEY_SIGNING_ALGORITHMS],
      issuer: log.issuer,
      requiredClaims: ['seq', 'head', 'iat', 'sub'],
    });
    if (typeof payload.seq !== 'number' || typeof payload.head !== 'string')
      throw new Error('malformed checkpoint');
    checkpoint = { seq: payload.seq, head: payload.head };
  } catch (error) {
    return bad(
      count,
      count,
      `the checkpoint signature does not verify: ${(error as Error).message}`,
    );
  }

  let previous = GENESIS_HASH;
  for (const [index, entry] of log.entries.entries()) {
    if (entry.seq !== index + 1) {
      const reason =
        entry.seq > index + 1
          ? `entries ${index + 1} to ${entry.seq - 1} are missing`
          : `entry ${entry.seq} is out of order`;
      return bad(count, index, reason, entry);
    }
    if (entry.prevHash !== previous)
      return bad(count, index, 'does not link to the entry before it', entry);
    if ((await auditEntryHash(entry)) !== entry.hash)
      return bad(count, index, 'its content was altered', entry);
    previous = entry.hash;
  }
  if (count < checkpoint.seq) {
    return bad(
      count,
      count,
      `the log ends at entry ${count} but the signed checkpoint covers ${checkpoint.seq}`,
    );
  }
  if (count > checkpoint.seq) {
    return bad(
      count,
      checkpoint.seq,
      `entries after ${checkpoint.seq} are not covered by the signed checkpoint`,
      log.entries[checkpoint.seq],
    );
  }
  if (previous !== checkpoint.head) {
    return bad(
      count,
      count - 1,
      'the last entry is not the head the vault signed',
      log.entries[count - 1],
    );
  }
  return { ok: true, entries: count, head: previous };
}
