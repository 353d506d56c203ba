import { createHmac } from 'node:crypto';
import { isAgeAtLeast, parseScopeItem, type RedemptionResponse } from '@webkey/protocol';
import type { CustomerScope } from '../accounts/customer-transaction.ts';
import { toBase64Url } from '../crypto/encoding.ts';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import { openContent } from '../records/record-crypto.ts';
import { currentVersionsAt } from '../records/records.repository.ts';

/**
 * The customer's identifier as one vendor sees it: HMAC of the vendor id under a key derived
 * from the customer's data key. Stable for this customer and vendor whatever else changes, and
 * unlinkable across vendors without the customer's key.
 *
 * @example
 * pairwiseSubject(dataKey, 'https://acme.example/webkey.json')
 */
export function pairwiseSubject(dataKey: Uint8Array, vendorId: string): string {
  const key = hkdfSha256(dataKey, new Uint8Array(0), 'webkey pairwise subject v1', 32);
  return toBase64Url(createHmac('sha256', key).update(vendorId, 'utf8').digest());
}

/**
 * A record version's id as one vendor sees it: HMAC of the vendor id and the version's own id
 * under a key derived from the customer's data key. It changes with every write, as the version
 * id does, but the vault-wide id would be one value that every vendor reading the record sees:
 * an identifier to join their customer lists on, pairwise subjects notwithstanding.
 */
function pairwiseVersionIds(dataKey: Uint8Array, vendorId: string): (versionId: string) => string {
  const key = hkdfSha256(dataKey, new Uint8Array(0), 'webkey pairwise version id v1', 32);
  return (versionId) =>
    `ver_${toBase64Url(
      createHmac('sha256', key)
        .update(JSON.stringify([vendorId, versionId]), 'utf8')
        .digest()
        .subarray(0, 16),
    )}`;
}

/**
 * Reads and decrypts exactly what a scope grants: the current content of each scoped path that
 * exists, and each derived claim that can be computed. Nothing outside the scope is returned; the
 * profile is read for an age claim but never handed out unless `profile` itself is in scope.
 * Version ids are the vendor's own (see pairwiseVersionIds).
 */
export async function readGrantedData(
  scope: CustomerScope,
  vendorId: string,
  items: string[],
  on: Date,
): Promise<Pick<RedemptionResponse, 'fields' | 'claims' | 'missing'>> {
  const parsed = items.map((item) => parseScopeItem(item)).filter((item) => item !== undefined);
  const paths = parsed.flatMap((item) => (item.kind === 'path' ? [item.path] : []));
  const needsProfile = parsed.some((item) => item.kind === 'age_over');
  const wanted = needsProfile ? [...new Set([...paths, 'profile'])] : paths;
  const rows = await currentVersionsAt(scope.trx, scope.customerId, wanted);
  const versionIdFor = pairwiseVersionIds(scope.dataKey, vendorId);
  const byPath = new Map(
    rows.map((row) => [
      row.path,
      {
        category: row.category,
        versionId: versionIdFor(row.id),
        value:
          row.content &&
          openContent(
            scope.dataKey,
            { customerId: scope.customerId, path: row.path, version: row.version },
            row.content,
          ),
      },
    ]),
  );
  const fields: RedemptionResponse['fields'] = {};
  const claims: RedemptionResponse['claims'] = {};
  const missing: string[] = [];
  for (const item of parsed) {
    if (item.kind === 'path') {
      const field = byPath.get(item.path);
      if (field) fields[item.path] = field;
      else missing.push(item.text);
      continue;
    }
    const birthDate = (byPath.get('profile')?.value as { birthDate?: string } | undefined)
      ?.birthDate;
    if (birthDate) claims[item.text] = isAgeAtLeast(birthDate, item.years, on);
    else missing.push(item.text);
  }
  return { fields, claims, missing };
}
