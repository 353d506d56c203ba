/** Plain words for paths, scopes and audit events: what the customer reads instead of ids. */

/** @type {Record<string, string>} */
const NAMED_PATHS = {
  profile: 'Name and birth date',
  contact: 'Phone and e-mail',
  preferences: 'Preferences',
  'address.home': 'Home address',
  'address.work': 'Work address',
  'address.billing': 'Billing address',
  'address.shipping': 'Shipping address',
  'insurance.primary': 'Insurance card',
};

/** @type {Record<string, string>} */
const CATEGORY_WORDS = {
  address: 'Address',
  insurance: 'Insurance card',
  prescription: 'Prescription',
  identity_document: 'Identity document',
};

/**
 * A record path or derived claim in plain words.
 *
 * @param {string} item
 * @example scopeWords('address.home') // 'Home address'
 * @example scopeWords('profile.age_over_21') // 'Over 21'
 */
export function scopeWords(item) {
  const age = /^profile\.age_over_(\d+)$/.exec(item);
  if (age) return `Over ${age[1]}`;
  const named = NAMED_PATHS[item];
  if (named) return named;
  const [category = '', label = ''] = item.split('.');
  return `${CATEGORY_WORDS[category] ?? category} (${label.replaceAll('_', ' ')})`;
}

/**
 * A scope list in plain words.
 *
 * @param {string[]} scope
 */
export function scopeListWords(scope) {
  return scope.map(scopeWords).join(', ');
}

/** @type {Record<string, string>} */
const REFUSAL_WORDS = {
  expired: 'expired',
  revoked: 'revoked',
  used_up: 'used up',
  not_for_this_vendor: 'made for another vendor',
};

/**
 * @typedef {{ event: string, vendor: { id: string, name: string } | null, paths: string[],
 *   purpose: string | null, reason: string | null, outcome: string }} EntryLike
 */

/**
 * The headline of one audit entry: who did what.
 *
 * @param {EntryLike} entry
 * @example entryHeadline({ event: 'key_redeemed', vendor: { name: 'Acme Optics' }, paths: ['address.home'] }) // 'Read by Acme Optics: Home address'
 */
export function entryHeadline(entry) {
  const what = scopeListWords(entry.paths);
  const vendor = entry.vendor?.name ?? 'a vendor';
  switch (entry.event) {
    case 'key_redeemed':
      return `Read by ${vendor}: ${what}`;
    case 'key_refused':
      return `Refused (${REFUSAL_WORDS[entry.reason ?? ''] ?? entry.reason ?? 'refused'}): ${vendor} asked for ${what}`;
    case 'key_issued':
      return `Key issued: ${what}`;
    case 'key_revoked':
      return `Key revoked: ${what}`;
    case 'record_changed':
      return `${what} ${entry.reason ?? 'changed'}`;
    case 'signed_up':
      return 'Account created';
    case 'signed_in':
      return entry.reason === 'recovery_code'
        ? 'Signed in with a recovery code'
        : 'Signed in with a passkey';
    default:
      return entry.event;
  }
}
