import {
  type IssuedWebkey,
  type IssueWebkeyRequest,
  isVendorIdSyntax,
  parseScopeItem,
  WEBKEY_JWT_TYPE,
} from '@webkey/protocol';
import QRCode from 'qrcode';
import { inCustomerTransaction } from '../accounts/customer-transaction.ts';
import { appendAudit, type RequestMeta } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import { newId } from '../crypto/ids.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { VaultError } from '../http/vault-error.ts';
import type { VaultSigner } from '../signing/signing-keys.ts';
import { newShortCode } from './short-codes.ts';
import { summarizeWebkey } from './webkey-summary.ts';
import { insertWebkey } from './webkeys.repository.ts';
import type { WebkeysTable } from './webkeys.table.ts';

function checkScope(scope: string[]): string[] {
  const errors = scope.flatMap((item, index) =>
    parseScopeItem(item)
      ? []
      : [{ pointer: `/scope/${index}`, message: `${item} is not a record path or a known claim` }],
  );
  if (errors.length > 0)
    throw new VaultError('invalid_request', { detail: 'The scope names unknown items.', errors });
  const unique = [...new Set(scope)];
  if (unique.length !== scope.length) {
    throw new VaultError('invalid_request', {
      detail: 'The scope names an item twice.',
      errors: [{ pointer: '/scope', message: 'duplicate item' }],
    });
  }
  // Several thresholds together bracket the age: over_30 false and over_29 true is the age.
  if (unique.filter((item) => parseScopeItem(item)?.kind === 'age_over').length > 1) {
    throw new VaultError('invalid_request', {
      detail: 'A key may prove one age threshold: more together would disclose the age itself.',
      errors: [{ pointer: '/scope', message: 'more than one profile.age_over_N' }],
    });
  }
  return unique;
}

/**
 * Error correction M: survives smudges and glare on a phone screen, keeps the code small. A
 * quiet zone of 4 modules, as ISO/IEC 18004 asks.
 */
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 4 } as const;

/** The QR code of a key, as SVG and PNG (data URL), with the QR version it needed. */
export async function renderQr(text: string): Promise<IssuedWebkey['qr']> {
  const [svg, png] = await Promise.all([
    QRCode.toString(text, { ...QR_OPTIONS, type: 'svg' }),
    QRCode.toDataURL(text, { ...QR_OPTIONS, scale: 6 }),
  ]);
  return { svg, png, version: QRCode.create(text, QR_OPTIONS).version };
}

/**
 * Issues a web key: stores its scope, limits and the hash of its short code, signs it, records
 * "key issued" in the audit log, and renders its QR code. The key carries no personal data and
 * no stable customer identifier: only its id, scope, purpose, limits, issuer and audience.
 *
 * @example
 * const issued = await issueWebkey(ctx, signer, customerId, { scope: ['address.home'], purpose: 'Delivery', audience: null, lifetimeSeconds: 600, uses: 1 }, meta);
 */
export async function issueWebkey(
  ctx: VaultContext,
  signer: VaultSigner,
  customerId: string,
  input: IssueWebkeyRequest,
  meta: RequestMeta,
  devMode: boolean,
): Promise<IssuedWebkey> {
  const scope = checkScope(input.scope);
  if (input.grantWrites.length > 0 && input.grantDays === null) {
    throw new VaultError('invalid_request', {
      detail: 'Deposits need a standing grant: set grantDays too.',
      errors: [{ pointer: '/grantWrites', message: 'needs grantDays' }],
    });
  }
  if (input.grantDays !== null && input.audience === null && input.uses > 1) {
    // Anyone who saw the QR code can publish a vendor document: each further use of an unbound
    // key would give another stranger a standing grant.
    throw new VaultError('invalid_request', {
      detail:
        'A key that opens a standing grant to any vendor must be single-use; or name the vendor.',
      errors: [{ pointer: '/uses', message: 'must be 1 with grantDays and no audience' }],
    });
  }
  if (input.audience !== null && !isVendorIdSyntax(input.audience, devMode)) {
    throw new VaultError('invalid_request', {
      detail: 'The audience must be a vendor id: the https URL of its metadata document.',
      errors: [{ pointer: '/audience', message: 'expected an https URL' }],
    });
  }
  const now = ctx.clock().getTime();
  const id = newId('wk', ctx.random);
  const issuedAt = Math.floor(now / 1000);
  const expiresAt = issuedAt + input.lifetimeSeconds;
  const token = await signer.sign(
    {
      jti: id,
      iat: issuedAt,
      exp: expiresAt,
      scope,
      purpose: input.purpose,
      uses: input.uses,
      ...(input.audience ? { aud: input.audience } : {}),
      ...(input.grantDays ? { grant_days: input.grantDays } : {}),
      ...(input.grantWrites.length > 0 ? { grant_writes: input.grantWrites } : {}),
    },
    WEBKEY_JWT_TYPE,
  );
  const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
  for (let attempt = 0; ; attempt++) {
    const shortCode = newShortCode(ctx.random);
    const row: WebkeysTable = {
      id,
      customer_id: customerId,
      kid,
      scope: JSON.stringify(scope),
      purpose: input.purpose,
      audience: input.audience,
      short_code_hash: shortCode.hash,
      issued_at: now,
      expires_at: expiresAt * 1000,
      uses_total: input.uses,
      uses_left: input.uses,
      revoked_at: null,
      last_redeemed_at: null,
      last_vendor_id: null,
      last_vendor_name: null,
      grant_days: input.grantDays,
      grant_writes: input.grantWrites.length > 0 ? JSON.stringify(input.grantWrites) : null,
      token_hash: sha256Hex(token),
    };
    try {
      await inCustomerTransaction(ctx, customerId, async (scopeTx) => {
        await insertWebkey(scopeTx.trx, row);
        await appendAudit(ctx, scopeTx, {
          event: 'key_issued',
          keyId: id,
          paths: scope,
          purpose: input.purpose,
          meta,
        });
      });
    } catch (error) {
      // 60-bit codes collide with live ones essentially never; one retry makes it never.
      if (isUniqueViolation(error) && attempt === 0) continue;
      throw error;
    }
    return {
      ...summarizeWebkey(row, now),
      key: token,
      shortCode: shortCode.code,
      qr: await renderQr(token),
    };
  }
}
