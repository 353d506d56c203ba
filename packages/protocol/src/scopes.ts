import { parseRecordPath } from './paths.ts';

/**
 * Scopes: what a web key grants. A scope item is a record path (`address.home`), which grants the
 * record's current content, or a derived claim, which discloses a fact without the value:
 * `profile.age_over_<N>` (N from 1 to 150) is true when the profile's birth date is at least N
 * years before the redemption date.
 */

/** A parsed scope item. */
export type ScopeItem =
  | { kind: 'path'; text: string; path: string }
  | { kind: 'age_over'; text: string; years: number };

const AGE_OVER = /^profile\.age_over_([1-9][0-9]{0,2})$/;

/**
 * Parses one scope item, or undefined when it is neither a path nor a known claim.
 *
 * @example
 * parseScopeItem('profile.age_over_21') // { kind: 'age_over', text: 'profile.age_over_21', years: 21 }
 */
export function parseScopeItem(text: string): ScopeItem | undefined {
  const age = AGE_OVER.exec(text);
  if (age) {
    const years = Number(age[1]);
    return years <= 150 ? { kind: 'age_over', text, years } : undefined;
  }
  const path = parseRecordPath(text);
  return path ? { kind: 'path', text, path: path.path } : undefined;
}

/** Derived claims a vault supports, as patterns for discovery documents. */
export const DERIVED_CLAIMS = ['profile.age_over_<N>'] as const;

/**
 * Whether a person born on `birthDate` (YYYY-MM-DD) is at least `years` old on `on` (UTC date).
 * Born on 29 February: the birthday falls on 1 March in common years.
 *
 * @example
 * isAgeAtLeast('2005-06-15', 21, new Date('2026-06-15T00:00:00Z')) // true
 */
export function isAgeAtLeast(birthDate: string, years: number, on: Date): boolean {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  const threshold = Date.UTC(y + years, m - 1, d);
  const today = Date.UTC(on.getUTCFullYear(), on.getUTCMonth(), on.getUTCDate());
  return today >= threshold;
}
