import type { GrantReadResponse } from '@webkey/protocol';
import { parseRecordPath, parseScopeItem } from '@webkey/protocol';
import { quote } from './quote.ts';

// Whether what a vault granted fits the scope it was granted under (protocol 8.4): a vendor never
// receives an item outside the key's scope, so a faulty vault must not be able to push data the
// vendor must not hold, not even under a claim's name (the whole profile as
// `fields['profile.age_over_21']`).

/**
 * What is wrong with `granted` under `scope`, one line per fault; empty when it fits. Every
 * `fields` key must be a record path of the scope holding a record of that path's category,
 * every `claims` key a derived claim of the scope, and every scope item must appear in exactly
 * one of `fields`, `claims` and `missing` (protocol 8.4), nothing else in `missing`.
 *
 * @example
 * grantedScopeFaults({ fields: {}, claims: { profile: true }, missing: [] }, ['profile'])
 * // ['claims "profile": not a derived claim of the scope']
 */
export function grantedScopeFaults(
  granted: Pick<GrantReadResponse, 'fields' | 'claims' | 'missing'>,
  scope: readonly string[],
): string[] {
  // Keys are the vault's text, quoted in faults. A Map, not an object: a key such as
  // "__proto__" or "toString" must not look like a member.
  const items = new Map(scope.map((text) => [text, parseScopeItem(text)]));
  const faults: string[] = [];
  for (const [key, field] of Object.entries(granted.fields)) {
    const category = items.get(key)?.kind === 'path' ? parseRecordPath(key)?.category : undefined;
    if (category === undefined) {
      faults.push(`fields ${quote(key)}: not a record path of the scope`);
    } else if (field.category !== category) {
      faults.push(
        `fields ${quote(key)}: a record of category ${quote(field.category)}, not ${category}`,
      );
    }
  }
  for (const key of Object.keys(granted.claims)) {
    const item = items.get(key);
    if (item === undefined || item.kind === 'path') {
      faults.push(`claims ${quote(key)}: not a derived claim of the scope`);
    }
  }
  const answered = [
    ...Object.keys(granted.fields),
    ...Object.keys(granted.claims),
    ...granted.missing,
  ];
  for (const key of granted.missing) {
    if (!items.has(key)) faults.push(`missing ${quote(key)}: not an item of the scope`);
  }
  for (const item of items.keys()) {
    const times = answered.filter((key) => key === item).length;
    if (times !== 1) faults.push(`${quote(item)}: answered ${times} times, not once`);
  }
  return faults;
}
