/**
 * The forms of My details: for each category, its fields, where each field lives in the record
 * (a JSON Pointer, to put the vault's validation messages next to the right input), and how form
 * values become record content. Fields this app does not show are kept from the stored content,
 * so saving here never drops what was written elsewhere.
 */

/**
 * @typedef {object} FieldSpec
 * @property {string} name also the data-testid suffix: `<prefix>-<name>`
 * @property {string} label
 * @property {string} pointer where the value lives in the content, such as /lines/0
 * @property {'text' | 'date' | 'email' | 'tel' | 'select'} [type]
 * @property {[string, string][]} [options] for selects: value, words
 * @property {string} [hint]
 * @property {string} [autocomplete]
 * @property {boolean} [optional] shown as "(optional)" in the label
 * @property {boolean} [upper] upper-cased on save (country codes)
 * @property {string} [maxlength]
 */

/**
 * @typedef {object} FormSpec
 * @property {string} category
 * @property {string} prefix the data-testid stem: save-<prefix>, saved-<prefix>, <prefix>-<field>
 * @property {string} title
 * @property {string} intro
 * @property {{ default: string, suggestions: string[], words: string }} [labelled] for categories with many records (address.home, address.work)
 * @property {FieldSpec[]} fields
 * @property {(content: any) => Record<string, string>} toForm
 * @property {(values: Record<string, string>, previous: any) => Record<string, unknown>} toContent
 */

/**
 * Copies non-empty values into `target`, removing keys left empty.
 *
 * @param {Record<string, unknown>} target
 * @param {Record<string, string | undefined>} values
 */
function assign(target, values) {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === '') delete target[key];
    else target[key] = value;
  }
  return target;
}

/**
 * Replaces or removes the first entry of a labelled list (one e-mail, one phone), keeping the rest.
 *
 * @param {any[] | undefined} list
 * @param {string} value
 * @param {string} key
 * @param {string} label
 */
function firstOf(list, value, key, label) {
  const rest = (list ?? []).slice(1);
  if (!value) return rest;
  return [{ label: list?.[0]?.label ?? label, [key]: value }, ...rest];
}

/** @type {FormSpec[]} */
export const FORMS = [
  {
    category: 'profile',
    prefix: 'profile',
    title: 'Profile',
    intro: 'Your name and birth date. A key can prove you are over 18 or 21 without the date.',
    fields: [
      { name: 'legalName', label: 'Legal name', pointer: '/legalName', autocomplete: 'name' },
      {
        name: 'preferredName',
        label: 'Preferred name',
        pointer: '/preferredName',
        autocomplete: 'nickname',
        optional: true,
      },
      {
        name: 'birthDate',
        label: 'Birth date',
        pointer: '/birthDate',
        type: 'date',
        autocomplete: 'bday',
        optional: true,
      },
    ],
    toForm: (content) => ({
      legalName: content?.legalName ?? '',
      preferredName: content?.preferredName ?? '',
      birthDate: content?.birthDate ?? '',
    }),
    toContent: (values, previous) => assign({ ...previous }, values),
  },
  {
    category: 'address',
    prefix: 'address',
    title: 'Addresses',
    intro: 'Postal addresses, each under a name such as home or work.',
    labelled: {
      default: 'home',
      suggestions: ['home', 'work', 'billing', 'shipping'],
      words: 'Which address',
    },
    fields: [
      {
        name: 'line1',
        label: 'Street and number',
        pointer: '/lines/0',
        autocomplete: 'address-line1',
      },
      {
        name: 'line2',
        label: 'Apartment, floor, building',
        pointer: '/lines/1',
        autocomplete: 'address-line2',
        optional: true,
      },
      {
        name: 'locality',
        label: 'Town or city',
        pointer: '/locality',
        autocomplete: 'address-level2',
      },
      {
        name: 'region',
        label: 'State or region',
        pointer: '/region',
        autocomplete: 'address-level1',
        optional: true,
      },
      {
        name: 'postalCode',
        label: 'Postal code',
        pointer: '/postalCode',
        autocomplete: 'postal-code',
        optional: true,
      },
      {
        name: 'country',
        label: 'Country code',
        pointer: '/country',
        autocomplete: 'country',
        hint: 'Two letters, such as US, GB or DE.',
        upper: true,
        maxlength: '2',
      },
    ],
    toForm: (content) => ({
      line1: content?.lines?.[0] ?? '',
      line2: content?.lines?.[1] ?? '',
      locality: content?.locality ?? '',
      region: content?.region ?? '',
      postalCode: content?.postalCode ?? '',
      country: content?.country ?? '',
    }),
    toContent: ({ line1, line2, ...rest }, previous) =>
      assign(
        // Lines 3 and 4 are not shown here: keep them after the two that are.
        {
          ...previous,
          lines: [line1, line2, ...(previous?.lines?.slice(2) ?? [])].filter(Boolean),
        },
        rest,
      ),
  },
  {
    category: 'insurance',
    prefix: 'insurance',
    title: 'Insurance',
    intro: 'What is on your insurance card.',
    labelled: {
      default: 'primary',
      suggestions: ['primary', 'secondary', 'dental', 'vision', 'travel'],
      words: 'Which card',
    },
    fields: [
      { name: 'insurer', label: 'Insurer', pointer: '/insurer', autocomplete: 'off' },
      { name: 'plan', label: 'Plan', pointer: '/plan', optional: true, autocomplete: 'off' },
      { name: 'memberId', label: 'Member ID', pointer: '/memberId', autocomplete: 'off' },
      {
        name: 'groupNumber',
        label: 'Group number',
        pointer: '/groupNumber',
        optional: true,
        autocomplete: 'off',
      },
      {
        name: 'validUntil',
        label: 'Valid until',
        pointer: '/validUntil',
        type: 'date',
        optional: true,
      },
    ],
    toForm: (content) => ({
      insurer: content?.insurer ?? '',
      plan: content?.plan ?? '',
      memberId: content?.memberId ?? '',
      groupNumber: content?.groupNumber ?? '',
      validUntil: content?.validUntil ?? '',
    }),
    toContent: (values, previous) => assign({ ...previous }, values),
  },
  {
    category: 'contact',
    prefix: 'contact',
    title: 'Phone and e-mail',
    intro: 'How a vendor can reach you, when you share it.',
    fields: [
      {
        name: 'email',
        label: 'E-mail address',
        pointer: '/emails/0/address',
        type: 'email',
        autocomplete: 'email',
        optional: true,
      },
      {
        name: 'phone',
        label: 'Phone number',
        pointer: '/phones/0/number',
        type: 'tel',
        autocomplete: 'tel',
        hint: 'International format, such as +14155550123.',
        optional: true,
      },
    ],
    toForm: (content) => ({
      email: content?.emails?.[0]?.address ?? '',
      phone: content?.phones?.[0]?.number ?? '',
    }),
    toContent: ({ email = '', phone = '' }, previous) => ({
      ...previous,
      emails: firstOf(previous?.emails, email, 'address', 'personal'),
      phones: firstOf(previous?.phones, phone.replace(/[\s()-]/g, ''), 'number', 'mobile'),
    }),
  },
  {
    category: 'preferences',
    prefix: 'preferences',
    title: 'Preferences',
    intro: 'How you like to be served.',
    fields: [
      {
        name: 'language',
        label: 'Language',
        pointer: '/language',
        hint: 'A language tag, such as en or de-CH.',
        autocomplete: 'language',
        optional: true,
      },
      {
        name: 'preferredChannel',
        label: 'How vendors may contact you',
        pointer: '/preferredChannel',
        type: 'select',
        options: [
          ['', 'No preference'],
          ['email', 'E-mail'],
          ['phone', 'Phone call'],
          ['sms', 'Text message'],
          ['post', 'Post'],
          ['none', 'Please do not contact me'],
        ],
      },
    ],
    toForm: (content) => ({
      language: content?.language ?? '',
      preferredChannel: content?.preferredChannel ?? '',
    }),
    toContent: (values, previous) => assign({ ...previous }, values),
  },
  {
    category: 'identity_document',
    prefix: 'identity',
    title: 'Identity document',
    intro: 'A passport, ID card or driving licence.',
    labelled: {
      default: 'passport',
      suggestions: ['passport', 'id_card', 'driving_licence'],
      words: 'Which document',
    },
    fields: [
      {
        name: 'type',
        label: 'Kind of document',
        pointer: '/type',
        type: 'select',
        options: [
          ['passport', 'Passport'],
          ['national_id', 'National ID card'],
          ['driving_licence', 'Driving licence'],
          ['residence_permit', 'Residence permit'],
          ['other', 'Other'],
        ],
      },
      { name: 'number', label: 'Document number', pointer: '/number', autocomplete: 'off' },
      { name: 'issuer', label: 'Issued by', pointer: '/issuer', autocomplete: 'off' },
      {
        name: 'issuingCountry',
        label: 'Issuing country code',
        pointer: '/issuingCountry',
        hint: 'Two letters, such as US, GB or DE.',
        upper: true,
        maxlength: '2',
        optional: true,
      },
      { name: 'issuedOn', label: 'Issued on', pointer: '/issuedOn', type: 'date', optional: true },
      { name: 'expiresOn', label: 'Expires on', pointer: '/expiresOn', type: 'date' },
    ],
    toForm: (content) => ({
      type: content?.type ?? 'passport',
      number: content?.number ?? '',
      issuer: content?.issuer ?? '',
      issuingCountry: content?.issuingCountry ?? '',
      issuedOn: content?.issuedOn ?? '',
      expiresOn: content?.expiresOn ?? '',
    }),
    toContent: (values, previous) => assign({ ...previous }, values),
  },
];
