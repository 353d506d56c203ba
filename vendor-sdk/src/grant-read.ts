import type { GrantReadResponse } from '@webkey/protocol';
import { GrantedData } from './redemption.ts';

/**
 * A re-read under a standing grant: the customer's current data in the grant's scope, with the
 * same typed accessors as a redemption.
 *
 * @example
 * const fresh = await client.grants.read(grantId);
 * updateCrm(fresh.subject, fresh.field('address.home'));
 */
export class GrantRead extends GrantedData {
  readonly grantId: string;
  readonly issuer: string;
  /** The customer as this vendor sees them: the same subject as at redemption. */
  readonly subject: string;
  readonly readAt: string;
  readonly purpose: string;
  readonly scope: readonly string[];
  /** When the grant ends unless the customer revokes it first. */
  readonly expiresAt: string;
  /** The customer's audit entry for this read. */
  readonly auditEntryId: string;

  constructor(response: GrantReadResponse, requestId?: string) {
    super(response, requestId);
    this.grantId = response.grantId;
    this.issuer = response.issuer;
    this.subject = response.subject;
    this.readAt = response.readAt;
    this.purpose = response.purpose;
    this.scope = response.scope;
    this.expiresAt = response.expiresAt;
    this.auditEntryId = response.auditEntryId;
  }
}
