import {
  type AuditEntry,
  type AuditExport,
  CHECKPOINT_JWT_TYPE,
  GENESIS_HASH,
} from '@webkey/protocol';
import type { VaultContext } from '../context.ts';
import type { VaultSigner } from '../signing/signing-keys.ts';
import { readAudit } from './audit-log.ts';

/**
 * The customer's whole audit log, oldest first, with a checkpoint the vault signs over the head
 * (its seq and hash): anyone holding the export can detect an entry edited, deleted, reordered,
 * or cut off the end (see verifyAuditExport in @webkey/protocol).
 *
 * @example
 * const log = await exportAudit(ctx, signer, customerId, dataKey);
 */
export async function exportAudit(
  ctx: VaultContext,
  signer: VaultSigner,
  customerId: string,
  dataKey: Uint8Array,
): Promise<AuditExport> {
  const entries = (await readAudit(ctx.db, customerId, dataKey, {})).reverse();
  const head = entries.at(-1);
  const now = ctx.clock();
  const checkpoint = await signer.sign(
    {
      sub: customerId,
      seq: head?.seq ?? 0,
      head: head?.hash ?? GENESIS_HASH,
      iat: Math.floor(now.getTime() / 1000),
    },
    CHECKPOINT_JWT_TYPE,
  );
  return {
    format: 'webkey-audit-v1',
    issuer: ctx.origin,
    exportedAt: now.toISOString(),
    entries,
    checkpoint,
    jwks: (await signer.jwks()) as AuditExport['jwks'],
  };
}

const CSV_COLUMNS = [
  'seq',
  'at',
  'event',
  'vendor_id',
  'vendor_name',
  'key_id',
  'paths',
  'purpose',
  'ip',
  'user_agent',
  'outcome',
  'reason',
  'prev_hash',
  'hash',
] as const;

/**
 * One CSV cell (RFC 4180 quoting). Cells a spreadsheet would run as a formula (starting with
 * = + - @ or a tab/CR) are prefixed with an apostrophe (OWASP CSV injection).
 */
function cell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The log as CSV, oldest first, one row per entry. For spreadsheets; verify with the JSON export. */
export function auditToCsv(entries: AuditEntry[]): string {
  const rows = entries.map((e) =>
    [
      e.seq,
      e.at,
      e.event,
      e.vendor?.id ?? null,
      e.vendor?.name ?? null,
      e.keyId,
      e.paths.join(' '),
      e.purpose,
      e.ip,
      e.userAgent,
      e.outcome,
      e.reason,
      e.prevHash,
      e.hash,
    ]
      .map(cell)
      .join(','),
  );
  return `${[CSV_COLUMNS.join(','), ...rows].join('\r\n')}\r\n`;
}
