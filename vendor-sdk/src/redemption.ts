import type {
  COLLECTION_CATEGORIES,
  RecordContent,
  RedemptionResponse,
  SINGLE_CATEGORIES,
} from '@webkey/protocol';
import { parseRecordPath, RECORD_SCHEMAS } from '@webkey/protocol';
import { VaultResponseError } from './errors.ts';
import { quote } from './quote.ts';

/**
 * A redemption's result: what the vault answered, with typed access to the granted fields.
 */

type SingleCategory = (typeof SINGLE_CATEGORIES)[number];
type CollectionCategory = (typeof COLLECTION_CATEGORIES)[number];

/**
 * A record path as a type: a single-item category (`profile`) or a collection category with a
 * label (`address.home`).
 *
 * @example
 * const path: FieldPath = 'insurance.primary';
 */
export type FieldPath = SingleCategory | `${CollectionCategory}.${string}`;

/**
 * The category a path string names, worked out by the compiler.
 *
 * @example
 * type C = CategoryOfPath<'address.home'>; // 'address'
 */
export type CategoryOfPath<P extends string> = P extends `${infer C}.${string}`
  ? C extends CollectionCategory
    ? C
    : never
  : P extends SingleCategory
    ? P
    : never;

/**
 * A path argument checked when it is a literal: a typo such as `'adress.home'` does not
 * compile, while a `string` known only at run time is accepted.
 *
 * @example
 * type Ok = CheckedPath<'address.home'>; // 'address.home'
 */
export type CheckedPath<P extends string> = string extends P
  ? string
  : P extends FieldPath
    ? P
    : FieldPath;

/**
 * What `field(path)` returns: the content type of the path's category, or any record content
 * for a path known only at run time.
 *
 * @example
 * type Home = FieldValue<'address.home'>; // RecordContent<'address'>
 */
export type FieldValue<P extends string> = string extends P
  ? RecordContent
  : RecordContent<CategoryOfPath<P>>;

/**
 * One granted field as the vault sent it.
 *
 * @example
 * const raw: GrantedField | undefined = redemption.fields['address.home']; // { category, versionId, value }
 */
export type GrantedField = RedemptionResponse['fields'][string];

/**
 * What a vault granted: records by path and derived claims, with typed accessors. The common
 * part of a {@link Redemption} and a {@link GrantRead}.
 *
 * @example
 * const home = granted.field('address.home');
 */
export class GrantedData {
  /** Granted records by path, unparsed; prefer {@link GrantedData.field}. */
  readonly fields: Readonly<Record<string, GrantedField>>;
  readonly claims: Readonly<Record<string, boolean>>;
  /** Scope items the customer has no data for. */
  readonly missing: readonly string[];
  /** The vault's request id of the answer. */
  readonly requestId?: string;
  readonly #parsed = new Map<string, unknown>();

  constructor(
    granted: Pick<RedemptionResponse, 'fields' | 'claims' | 'missing'>,
    requestId?: string,
  ) {
    this.fields = granted.fields;
    this.claims = granted.claims;
    this.missing = granted.missing;
    if (requestId !== undefined) this.requestId = requestId;
  }

  /**
   * The granted record at `path`, parsed with its category's schema, or undefined when the key
   * did not grant it or the customer has no such record. A value that breaks its schema throws
   * {@link VaultResponseError}.
   *
   * @example
   * const home = redemption.field('address.home');
   * if (home) printLabel(home.lines, home.locality, home.country);
   */
  field<P extends string>(path: P & CheckedPath<P>): FieldValue<P> | undefined;
  field(path: string): RecordContent | undefined {
    if (this.#parsed.has(path)) return this.#parsed.get(path) as RecordContent;
    const granted = Object.hasOwn(this.fields, path) ? this.fields[path] : undefined;
    if (granted === undefined) return undefined;
    const parsedPath = parseRecordPath(path);
    if (parsedPath === undefined) throw new TypeError(`${path} is not a record path`);
    const context = { code: 'unexpected_response' as const, requestId: this.requestId };
    if (granted.category !== parsedPath.category) {
      throw new VaultResponseError(
        `The vault sent a ${quote(granted.category)} record at ${path}, which is a ${parsedPath.category} path.`,
        context,
      );
    }
    const parsed = RECORD_SCHEMAS[parsedPath.category].safeParse(granted.value);
    if (!parsed.success) {
      throw new VaultResponseError(
        `The vault sent a malformed ${parsedPath.category} record at ${path}.`,
        {
          ...context,
          detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        },
      );
    }
    this.#parsed.set(path, parsed.data);
    return parsed.data;
  }

  /**
   * A derived claim's value (`profile.age_over_21`), or undefined when not granted or the
   * customer has no data to decide it.
   *
   * @example
   * redemption.claim('profile.age_over_18') // true
   */
  claim(name: string): boolean | undefined {
    return Object.hasOwn(this.claims, name) ? this.claims[name] : undefined;
  }
}

/**
 * A successful redemption. Every member of the vault's answer is here as sent; `field()` and
 * `claim()` read the grant.
 *
 * @example
 * const redemption = await client.redeem(scanned);
 * const home = redemption.field('address.home'); // RecordContent<'address'> | undefined
 * if (redemption.claim('profile.age_over_21')) sellWine();
 * console.log(redemption.subject, redemption.auditEntryId);
 */
export class Redemption extends GrantedData {
  readonly redemptionId: string;
  /** The web key's `jti`. */
  readonly keyId: string;
  readonly issuer: string;
  /** The customer as this vendor sees them: stable for this vendor, unlinkable across vendors. */
  readonly subject: string;
  readonly redeemedAt: string;
  readonly purpose: string;
  readonly scope: readonly string[];
  readonly usesLeft: number;
  /** The customer's audit entry for this read. */
  readonly auditEntryId: string;
  /** The web key (compact JWS). */
  readonly key: string;
  /** The standing grant this redemption opened, when the key made one: re-read with its id. */
  readonly grant?: { id: string; expiresAt: string; writes?: string[] };

  constructor(response: RedemptionResponse, requestId?: string) {
    super(response, requestId);
    this.redemptionId = response.redemptionId;
    this.keyId = response.keyId;
    this.issuer = response.issuer;
    this.subject = response.subject;
    this.redeemedAt = response.redeemedAt;
    this.purpose = response.purpose;
    this.scope = response.scope;
    this.usesLeft = response.usesLeft;
    this.auditEntryId = response.auditEntryId;
    this.key = response.key;
    if (response.grant !== undefined) this.grant = response.grant;
  }

  /** The vault's answer as plain JSON. @example JSON.stringify(redemption) */
  toJSON(): RedemptionResponse {
    return {
      redemptionId: this.redemptionId,
      keyId: this.keyId,
      issuer: this.issuer,
      subject: this.subject,
      redeemedAt: this.redeemedAt,
      purpose: this.purpose,
      scope: [...this.scope],
      usesLeft: this.usesLeft,
      auditEntryId: this.auditEntryId,
      fields: { ...this.fields },
      claims: { ...this.claims },
      missing: [...this.missing],
      key: this.key,
      ...(this.grant === undefined ? {} : { grant: this.grant }),
    };
  }
}
