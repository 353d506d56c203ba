import { z } from 'zod';
import type { Category } from './paths.ts';

/**
 * The content schemas of every record category. All objects are strict: an unknown field is
 * refused, never silently stored.
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const label = text(40);
/** Calendar date in ISO 8601 form (YYYY-MM-DD), checked to exist (no 2023-02-30). */
const isoDate = z.iso.date();
/** ISO 3166-1 alpha-2 country code, upper case. */
const country = z.string().regex(/^[A-Z]{2}$/, 'Use a two-letter country code such as US or DE.');

/** Profile: who the customer is. @example profileSchema.parse({ legalName: 'Ada Lovelace' }) */
export const profileSchema = z.strictObject({
  legalName: text(200),
  preferredName: text(200).optional(),
  birthDate: isoDate.optional(),
});

/** Contact: labelled e-mail addresses and phone numbers. */
export const contactSchema = z.strictObject({
  emails: z
    .array(z.strictObject({ label, address: z.email().max(254) }))
    .max(20)
    .default([]),
  phones: z
    .array(
      z.strictObject({
        label,
        number: z
          .string()
          .regex(/^\+[1-9][0-9]{6,14}$/, 'Use international format, e.g. +14155550123.'),
      }),
    )
    .max(20)
    .default([]),
});

/** A postal address. @example addressSchema.parse({ lines: ['1 Main St'], locality: 'Springfield', country: 'US' }) */
export const addressSchema = z.strictObject({
  recipient: text(200).optional(),
  lines: z.array(text(200)).min(1).max(4),
  locality: text(100),
  region: text(100).optional(),
  postalCode: text(20).optional(),
  country,
});

/** An insurance policy. */
export const insuranceSchema = z.strictObject({
  insurer: text(200),
  plan: text(200).optional(),
  memberId: text(64),
  groupNumber: text(64).optional(),
  policyholder: text(200).optional(),
  validUntil: isoDate.optional(),
});

/** Optical power in dioptres, in quarter steps. */
const dioptres = (min: number, max: number) => z.number().min(min).max(max).multipleOf(0.25);

const eyeSchema = z.strictObject({
  sphere: dioptres(-30, 30),
  cylinder: dioptres(-10, 10).optional(),
  axis: z.number().int().min(1).max(180).optional(),
  add: dioptres(0, 4).optional(),
});

const eyewearSchema = z
  .strictObject({
    kind: z.literal('eyewear'),
    right: eyeSchema,
    left: eyeSchema,
    /** Pupillary distance in millimetres, binocular. */
    pupillaryDistance: z.number().min(40).max(85).multipleOf(0.5).optional(),
    prescriber: text(200),
    issuedOn: isoDate,
    expiresOn: isoDate.optional(),
  })
  .superRefine((value, context) => {
    for (const side of ['right', 'left'] as const) {
      const eye = value[side];
      if ((eye.cylinder === undefined) !== (eye.axis === undefined)) {
        context.addIssue({
          code: 'custom',
          path: [side, eye.cylinder === undefined ? 'cylinder' : 'axis'],
          message: 'Cylinder and axis go together: give both or neither.',
        });
      }
    }
  });

const medicationSchema = z.strictObject({
  kind: z.literal('medication'),
  medication: text(200),
  strength: text(100).optional(),
  dosage: text(500),
  quantity: text(100).optional(),
  refills: z.number().int().min(0).max(99).optional(),
  prescriber: text(200),
  issuedOn: isoDate,
  expiresOn: isoDate.optional(),
});

/** A prescription: eyewear (per-eye values) or a medication. */
export const prescriptionSchema = z.discriminatedUnion('kind', [eyewearSchema, medicationSchema]);

/** An identity document. */
export const identityDocumentSchema = z.strictObject({
  type: z.enum(['passport', 'national_id', 'driving_licence', 'residence_permit', 'other']),
  number: text(64),
  issuer: text(200),
  issuingCountry: country.optional(),
  issuedOn: isoDate.optional(),
  expiresOn: isoDate,
});

/** Preferences: how the customer wants to be served. */
export const preferencesSchema = z.strictObject({
  language: z
    .string()
    .regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/, 'Use a language tag such as en or de-CH.')
    .optional(),
  preferredChannel: z.enum(['email', 'phone', 'sms', 'post', 'none']).optional(),
  marketingConsent: z.boolean().optional(),
  sizes: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/), text(40)).optional(),
  dietaryNeeds: z.array(text(100)).max(20).optional(),
  notes: text(2000).optional(),
});

/**
 * The content schema of each category.
 *
 * @example
 * RECORD_SCHEMAS.address.safeParse(body).success
 */
export const RECORD_SCHEMAS = {
  profile: profileSchema,
  contact: contactSchema,
  address: addressSchema,
  insurance: insuranceSchema,
  prescription: prescriptionSchema,
  identity_document: identityDocumentSchema,
  preferences: preferencesSchema,
} as const satisfies Record<Category, z.ZodType>;

/** The content type of one category. @example const home: RecordContent<'address'> = ... */
export type RecordContent<C extends Category = Category> = z.output<(typeof RECORD_SCHEMAS)[C]>;

/** Plain-word names of the categories, for user interfaces. */
export const CATEGORY_TITLES: Record<Category, string> = {
  profile: 'Profile',
  contact: 'Contact details',
  address: 'Address',
  insurance: 'Insurance',
  prescription: 'Prescription',
  identity_document: 'Identity document',
  preferences: 'Preferences',
};
