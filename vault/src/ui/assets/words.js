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
  kind_not_granted: 'not allowed to file that',
};

/** Kinds of records a shop may file in the vault (section 8.8 of the protocol). */
export const DEPOSIT_KINDS = [
  'receipt',
  'prescription',
  'order',
  'service_ticket',
  'policy_document',
];

/** @type {Record<string, { one: string, many: string }>} */
const KIND_WORDS = {
  receipt: { one: 'receipt', many: 'Receipts' },
  prescription: { one: 'prescription', many: 'Prescriptions it issues' },
  order: { one: 'order', many: 'Orders' },
  service_ticket: { one: 'service ticket', many: 'Service tickets' },
  policy_document: { one: 'policy document', many: 'Policy documents' },
};

/**
 * One kind of deposited record in plain words.
 *
 * @param {string} kind
 * @example kindWord('service_ticket') // 'service ticket'
 */
export function kindWord(kind) {
  return KIND_WORDS[kind]?.one ?? kind.replaceAll('_', ' ');
}

/**
 * What a shop may file, as a choice or a list: "Receipts, Orders".
 *
 * @param {string[]} kinds
 */
export function kindListWords(kinds) {
  return kinds.map((kind) => KIND_WORDS[kind]?.many ?? kind.replaceAll('_', ' ')).join(', ');
}

/** @param {string | null} reason */
function refusal(reason) {
  return REFUSAL_WORDS[reason ?? ''] ?? reason ?? 'refused';
}

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
  const vendor = entry.vendor?.name ?? 'a vendor';
  if (entry.event.startsWith('deposit_')) return depositHeadline(entry, vendor);
  const what = scopeListWords(entry.paths);
  switch (entry.event) {
    case 'key_redeemed':
      return `Read by ${vendor}: ${what}`;
    case 'key_refused':
      return `Refused (${refusal(entry.reason)}): ${vendor} asked for ${what}`;
    case 'grant_read':
      return `Re-read by ${vendor}: ${what}`;
    case 'grant_refused':
      return `Refused (${refusal(entry.reason)}): ${vendor} tried to re-read ${what}`;
    case 'grant_revoked':
      return `Stopped ${vendor} from reading ${what} again`;
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
    case 'passkey_added':
      return `Passkey added: ${entry.reason ?? 'unnamed'}`;
    case 'passkey_removed':
      return `Passkey removed: ${entry.reason ?? 'unnamed'}`;
    case 'recovery_codes_replaced':
      return 'New recovery codes made; the old ones stopped working';
    default:
      return entry.event;
  }
}

/**
 * The headline of a deposit entry. Its path is "kind:ref" and its purpose the record's title.
 *
 * @param {EntryLike} entry
 * @param {string} vendor
 * @example depositHeadline({ event: 'deposit_received', paths: ['receipt:INV-1'], purpose: 'Eye exam', ... }, 'Acme Optics') // 'Acme Optics filed a receipt: Eye exam'
 */
function depositHeadline(entry, vendor) {
  const kind = kindWord((entry.paths[0] ?? '').split(':')[0] ?? '');
  const title = entry.purpose ?? '';
  switch (entry.event) {
    case 'deposit_received': {
      const version = /^version (\d+)$/.exec(entry.reason ?? '');
      return `${vendor} filed a ${kind}: ${title}${version ? ` (version ${version[1]})` : ''}`;
    }
    case 'deposit_refused':
      return `Refused (${refusal(entry.reason)}): ${vendor} tried to file a ${kind}: ${title}`;
    case 'deposit_accepted':
      return `Accepted into your documents: ${vendor}’s ${kind}: ${title}`;
    case 'deposit_discarded':
      return `Discarded: ${vendor}’s ${kind}: ${title}`;
    default:
      return entry.event;
  }
}
