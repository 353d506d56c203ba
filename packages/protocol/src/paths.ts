/**
 * Record paths. Every item of a customer's data has a stable path that scopes name later:
 * single-item categories are addressed by the category alone (`profile`, `contact`,
 * `preferences`); collections by category and label (`address.home`, `insurance.primary`).
 */

/** Categories that hold exactly one item, addressed by the bare category name. */
export const SINGLE_CATEGORIES = ['profile', 'contact', 'preferences'] as const;
/** Categories that hold many labelled items, addressed as `category.label`. */
export const COLLECTION_CATEGORIES = [
  'address',
  'insurance',
  'prescription',
  'identity_document',
] as const;
/** Every record category. @example CATEGORIES.includes('address') */
export const CATEGORIES = [...SINGLE_CATEGORIES, ...COLLECTION_CATEGORIES] as const;

/** A record category. */
export type Category = (typeof CATEGORIES)[number];

/** A parsed record path. */
export interface RecordPath {
  /** The canonical text form, e.g. `address.home`. */
  path: string;
  category: Category;
  /** The label within a collection; undefined for single-item categories. */
  label?: string;
}

/** Labels: lowercase letters, digits and underscores, starting with a letter, up to 32. */
const LABEL = /^[a-z][a-z0-9_]{0,31}$/;

function isSingle(value: string): value is (typeof SINGLE_CATEGORIES)[number] {
  return (SINGLE_CATEGORIES as readonly string[]).includes(value);
}

function isCollection(value: string): value is (typeof COLLECTION_CATEGORIES)[number] {
  return (COLLECTION_CATEGORIES as readonly string[]).includes(value);
}

/**
 * Parses a record path, or returns undefined when it is not one. Paths are case-sensitive
 * and have no aliases, so a path has exactly one spelling.
 *
 * @example
 * parseRecordPath('address.home') // { path: 'address.home', category: 'address', label: 'home' }
 * parseRecordPath('profile')      // { path: 'profile', category: 'profile' }
 * parseRecordPath('address')      // undefined: a collection needs a label
 */
export function parseRecordPath(text: string): RecordPath | undefined {
  const dot = text.indexOf('.');
  if (dot === -1) {
    return isSingle(text) ? { path: text, category: text } : undefined;
  }
  const category = text.slice(0, dot);
  const label = text.slice(dot + 1);
  if (!isCollection(category) || !LABEL.test(label)) return undefined;
  return { path: text, category, label };
}

/** A record path pattern for documentation and OpenAPI. */
export const RECORD_PATH_PATTERN =
  '^(profile|contact|preferences|(address|insurance|prescription|identity_document)\\.[a-z][a-z0-9_]{0,31})$';
