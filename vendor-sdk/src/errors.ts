import type { ErrorCode, ProblemIssue } from '@webkey/protocol';
import { quote } from './quote.ts';

/**
 * The SDK's errors: one base class with a closed union of codes, a subclass per category a
 * point of sale reacts to differently, and one factory from a vault's answer to the class
 * (stripe-node `src/Error.ts`). Branch with `instanceof`; log `requestId` so the vault's
 * operator can find the request.
 */

/**
 * Codes the SDK raises itself, for failures that are not a vault's answer.
 *
 * - `webkey_invalid`: the text is not a web key of a trusted vault (bad signature, alg, typ,
 *   claims), or neither a web key nor a short code; nothing was sent.
 * - `untrusted_issuer`: the vault is not accepted by the trust policy; nothing was sent.
 * - `issuer_required`: a short code was given and the vault to ask is not known.
 * - `vault_unreachable`: no answer from the vault after every attempt.
 * - `unexpected_response`: the vault answered something that breaks the protocol.
 *
 * @example
 * if (error.code === 'issuer_required') askWhichVault();
 */
export type SdkErrorCode =
  | 'webkey_invalid'
  | 'untrusted_issuer'
  | 'issuer_required'
  | 'vault_unreachable'
  | 'unexpected_response'
  | 'webhook_invalid';

/** Every code a {@link WebkeyError} can carry. @example const code: WebkeyErrorCode = 'webkey_refused'; */
export type WebkeyErrorCode = ErrorCode | SdkErrorCode;

/**
 * What every error carries besides its message.
 *
 * @example
 * new VaultResponseError('Bad answer.', { code: 'unexpected_response', status: 200, requestId });
 */
export interface WebkeyErrorInit {
  code: WebkeyErrorCode;
  /** The HTTP status of the vault's answer, when there was one. */
  status?: number;
  /** The vault's request id (`X-Request-Id`), on every error that comes from a vault's answer. */
  requestId?: string;
  /** The vault's `detail` or the SDK's technical explanation; may be shown to developers, not clerks. */
  detail?: string;
  cause?: unknown;
}

/**
 * The base of every error the SDK throws.
 *
 * @example
 * try {
 *   await client.redeem(scanned);
 * } catch (error) {
 *   if (error instanceof WebkeyError) console.error(error.code, error.requestId);
 *   throw error;
 * }
 */
export class WebkeyError extends Error {
  override name = 'WebkeyError';
  readonly code: WebkeyErrorCode;
  readonly status?: number;
  readonly requestId?: string;
  readonly detail?: string;

  constructor(message: string, init: WebkeyErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    if (init.status !== undefined) this.status = init.status;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.detail !== undefined) this.detail = init.detail;
  }
}

/**
 * The text is not a valid web key (signature, algorithm, `typ` or claims), or is neither a web
 * key nor a short code. Checked before anything is sent.
 *
 * @example
 * if (error instanceof WebkeyInvalidError) showToClerk('This is not a Webkey QR code.');
 */
export class WebkeyInvalidError extends WebkeyError {
  override name = 'WebkeyInvalidError';
}

/**
 * The vault refused a web key that had already expired. Ask the customer for a new one.
 *
 * @example
 * if (error instanceof WebkeyExpiredError) showToClerk('The key has expired; ask for a new one.');
 */
export class WebkeyExpiredError extends WebkeyError {
  override name = 'WebkeyExpiredError';
}

/**
 * The vault refused a web key bound to another vendor (its `aud` is not this client's id).
 *
 * @example
 * if (error instanceof WebkeyNotForYouError) showToClerk('This key was made for another shop.');
 */
export class WebkeyNotForYouError extends WebkeyError {
  override name = 'WebkeyNotForYouError';
}

/**
 * The vault refused the web key: it is used up, revoked, or unknown to the vault. The vault
 * deliberately does not say which.
 *
 * @example
 * if (error instanceof WebkeyUsedOrRevokedError) showToClerk('This key can no longer be used.');
 */
export class WebkeyUsedOrRevokedError extends WebkeyError {
  override name = 'WebkeyUsedOrRevokedError';
}

/**
 * The vault refused a re-read under a standing grant: the customer revoked it, it expired, or it
 * is not this vendor's (the vault deliberately does not say which). Stop reading; ask the
 * customer for a new grant if the relationship goes on.
 *
 * @example
 * if (error instanceof GrantRefusedError) markCustomerRecordStale(customerId);
 */
export class GrantRefusedError extends WebkeyError {
  override name = 'GrantRefusedError';
}

/**
 * A webhook that must not be acted on: not signed by a trusted vault, altered, too old or too far
 * in the future, replayed, or not a Webkey event. Answer the request with 400 and drop it.
 *
 * @example
 * if (error instanceof WebhookVerificationError) return new Response(null, { status: 400 });
 */
export class WebhookVerificationError extends WebkeyError {
  override name = 'WebhookVerificationError';
}

/**
 * The key's vault (or the one named for a short code) is not accepted by the trust policy.
 * Nothing was sent to it.
 *
 * @example
 * if (error instanceof UntrustedIssuerError) showToClerk('We do not accept keys from this vault.');
 */
export class UntrustedIssuerError extends WebkeyError {
  override name = 'UntrustedIssuerError';
  /** The issuer that was refused. */
  readonly issuer: string;

  constructor(
    issuer: string,
    // Quoted: the issuer comes from a scanned code, and may carry terminal escapes.
    message = `The vault ${quote(issuer)} is not trusted by this point of sale.`,
  ) {
    super(message, { code: 'untrusted_issuer' });
    this.issuer = issuer;
  }
}

/**
 * The vault could not authenticate this vendor (`invalid_client`): the vendor metadata
 * document is unreachable or does not hold the signing key, or the clock is far off.
 *
 * @example
 * if (error instanceof VendorAuthenticationError) alertOperator(error.requestId);
 */
export class VendorAuthenticationError extends WebkeyError {
  override name = 'VendorAuthenticationError';
}

/**
 * The request was refused as malformed (`invalid_request`, `idempotency_key_reused`), or the
 * caller must say more (`issuer_required`). A bug or a configuration issue, not the customer's.
 *
 * @example
 * if (error instanceof InvalidRequestError) console.error(error.issues);
 */
export class InvalidRequestError extends WebkeyError {
  override name = 'InvalidRequestError';
  /** Field-level complaints of an `invalid_request` answer. */
  readonly issues: readonly ProblemIssue[];

  constructor(message: string, init: WebkeyErrorInit & { issues?: readonly ProblemIssue[] }) {
    super(message, init);
    this.issues = init.issues ?? [];
  }
}

/**
 * The vault asked us to slow down and the wait it named was longer than the SDK would wait.
 *
 * @example
 * if (error instanceof RateLimitedError) retryLater(error.retryAfterSeconds ?? 30);
 */
export class RateLimitedError extends WebkeyError {
  override name = 'RateLimitedError';
  /** The vault's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds?: number;

  constructor(message: string, init: WebkeyErrorInit & { retryAfterSeconds?: number }) {
    super(message, init);
    if (init.retryAfterSeconds !== undefined) this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

/**
 * No answer from the vault after every attempt (connection refused, reset, DNS, timeout).
 * A redemption may or may not have happened: retry with the same `idempotencyKey`.
 *
 * @example
 * if (error instanceof VaultUnreachableError) showToClerk('The vault is offline; try again.');
 */
export class VaultUnreachableError extends WebkeyError {
  override name = 'VaultUnreachableError';
}

/**
 * The vault's answer breaks the protocol (malformed body, wrong issuer, a key that does not
 * verify), or it kept failing (5xx) after every attempt.
 *
 * @example
 * if (error instanceof VaultResponseError) alertOperator(error.requestId, error.detail);
 */
export class VaultResponseError extends WebkeyError {
  override name = 'VaultResponseError';
}

/**
 * What the SDK knew locally about a key the vault refused, so the refusal can be explained.
 *
 * @example
 * errorFromAnswer({ status: 403, code: 'webkey_refused', refusal: 'expired' }) // WebkeyExpiredError
 */
export type RefusalHint = 'expired' | 'not_for_you' | undefined;

/**
 * A vault's answer reduced to what the factory needs.
 *
 * @example
 * const answer: VaultAnswer = { status: 429, code: 'rate_limited', retryAfterSeconds: 30 };
 */
export interface VaultAnswer {
  status: number;
  /** The problem's `code`, when the body was a valid problem document. */
  code?: ErrorCode;
  detail?: string;
  requestId?: string;
  issues?: readonly ProblemIssue[];
  retryAfterSeconds?: number;
  /** Why a `webkey_refused` is expected, from the SDK's own check of the key. */
  refusal?: RefusalHint;
}

const REFUSED_USED_OR_REVOKED =
  'The vault refused this web key: it is used up, revoked, or unknown to the vault (the vault does not say which). Ask the customer for a new key.';

/**
 * The one mapping from a vault's error answer to an error class.
 *
 * @example
 * const error = errorFromAnswer({ status: 403, code: 'webkey_refused', requestId: 'req_1' });
 * error instanceof WebkeyUsedOrRevokedError // true
 */
export function errorFromAnswer(answer: VaultAnswer): WebkeyError {
  const { status, code, requestId, retryAfterSeconds } = answer;
  const base = {
    status,
    ...(requestId === undefined ? {} : { requestId }),
    ...(answer.detail === undefined ? {} : { detail: answer.detail }),
  };
  switch (code) {
    case 'webkey_refused':
      if (answer.refusal === 'expired') {
        return new WebkeyExpiredError('This web key has expired; ask the customer for a new one.', {
          ...base,
          code,
        });
      }
      if (answer.refusal === 'not_for_you') {
        return new WebkeyNotForYouError(
          'This web key was made for another vendor; ask the customer for a key for this shop.',
          { ...base, code },
        );
      }
      return new WebkeyUsedOrRevokedError(REFUSED_USED_OR_REVOKED, { ...base, code });
    case 'grant_refused':
      return new GrantRefusedError(
        'The vault refused this grant: it was revoked, has expired, or is not yours (the vault does not say which).',
        { ...base, code },
      );
    case 'inbox_full':
      return new VaultResponseError(
        "The customer's inbox is full of your records until they accept or discard some; deposit again later, not at once.",
        { ...base, code },
      );
    case 'invalid_client':
      return new VendorAuthenticationError(
        'The vault could not authenticate this vendor: check that the vendor metadata document is reachable and lists the signing key, and that the clock is right.',
        { ...base, code },
      );
    case 'invalid_request':
    case 'idempotency_key_reused':
    case 'unsupported_media_type':
    case 'payload_too_large':
      return new InvalidRequestError(`The vault refused the request as malformed (${code}).`, {
        ...base,
        code,
        ...(answer.issues === undefined ? {} : { issues: answer.issues }),
      });
    case 'rate_limited':
      return rateLimited(base, code, retryAfterSeconds);
    case undefined:
      if (status === 429) return rateLimited(base, 'rate_limited', retryAfterSeconds);
      return new VaultResponseError(
        `The vault answered HTTP ${status} without a Webkey problem document.`,
        { ...base, code: 'unexpected_response' },
      );
    default:
      return new VaultResponseError(
        status >= 500
          ? `The vault failed to answer (HTTP ${status}, ${code}); nothing was redeemed.`
          : `The vault answered ${code} (HTTP ${status}), which a redemption does not expect.`,
        { ...base, code },
      );
  }
}

function rateLimited(
  base: { status: number; requestId?: string; detail?: string },
  code: ErrorCode,
  retryAfterSeconds: number | undefined,
): RateLimitedError {
  const wait = retryAfterSeconds === undefined ? '' : ` Retry after ${retryAfterSeconds} s.`;
  return new RateLimitedError(`The vault is rate limiting this vendor.${wait}`, {
    ...base,
    code,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
}
