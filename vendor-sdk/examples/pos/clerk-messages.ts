import {
  InvalidRequestError,
  RateLimitedError,
  UntrustedIssuerError,
  VaultResponseError,
  VaultUnreachableError,
  VendorAuthenticationError,
  WebkeyError,
  WebkeyExpiredError,
  WebkeyInvalidError,
  WebkeyNotForYouError,
  WebkeyUsedOrRevokedError,
} from '../../src/index.ts';

/**
 * What the clerk reads when a key cannot be redeemed: one plain sentence per SDK error class,
 * saying what happened and what to do next. The SDK's own messages are written for developers;
 * these are written for the counter.
 */

/**
 * A refusal as the counter page shows it. `kind` is the SDK error class name (or `InternalError`
 * for anything unexpected); `requestId` is the vault's, for the shop's technical contact.
 *
 * @example
 * const refusal: ClerkRefusal = { kind: 'WebkeyExpiredError', message: 'This key has expired. ...' };
 */
export interface ClerkRefusal {
  kind: string;
  message: string;
  requestId?: string;
}

/** What the counter says for each refusal; exported so tests and docs use the same words. */
export const CLERK_MESSAGES = {
  WebkeyUsedOrRevokedError:
    'This key was already used, or the customer revoked it. Ask for a new one.',
  WebkeyExpiredError: 'This key has expired. Ask the customer to show a new one.',
  WebkeyNotForYouError: 'This key was made for another shop.',
  UntrustedIssuerError: 'This key comes from a vault this shop does not accept.',
  VaultUnreachableError: "The customer's vault cannot be reached right now. Try again in a moment.",
  notAKey: 'That is not a web key or a short code.',
  notGenuine:
    'This key could not be verified: it was not read completely, or it is not genuine. Scan it again or ask for a new one.',
  issuerRequired: "Choose the customer's vault, then read the short code again.",
  VendorAuthenticationError:
    "The customer's vault could not confirm this shop's identity. Tell the shop's technical contact.",
  InvalidRequestError:
    "The customer's vault did not accept the request. Tell the shop's technical contact.",
  RateLimitedError: "The customer's vault is busy. Try again in a minute.",
  tooManyShortCodes:
    'Too many short codes did not work here just now. Wait a minute, or scan the QR code instead.',
  VaultResponseError:
    "The customer's vault gave an answer this counter cannot use. Try again, or ask for a new key.",
  InternalError: 'Something went wrong at this counter. Try again.',
} as const;

/** The shape of a web key (a compact JWS), as the protocol's section 5.7 step 1 defines it. */
export const WEB_KEY_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Turns an error thrown by `VendorClient.redeem()` into the clerk's sentence. Returns undefined
 * for an error that is not the SDK's (a bug: the caller logs it and answers a generic 500).
 *
 * @example
 * clerkRefusal(new WebkeyExpiredError('...', { code: 'webkey_refused' }), scanned)
 * // { kind: 'WebkeyExpiredError', message: 'This key has expired. Ask the customer to show a new one.' }
 */
export function clerkRefusal(error: unknown, input: string): ClerkRefusal | undefined {
  if (!(error instanceof WebkeyError)) return undefined;
  const refusal = (message: string): ClerkRefusal => ({
    kind: error.name,
    message,
    ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
  });
  // Most specific first: the classes do not inherit from each other, but keep the order obvious.
  if (error instanceof WebkeyUsedOrRevokedError) {
    return refusal(CLERK_MESSAGES.WebkeyUsedOrRevokedError);
  }
  if (error instanceof WebkeyExpiredError) return refusal(CLERK_MESSAGES.WebkeyExpiredError);
  if (error instanceof WebkeyNotForYouError) return refusal(CLERK_MESSAGES.WebkeyNotForYouError);
  if (error instanceof UntrustedIssuerError) return refusal(CLERK_MESSAGES.UntrustedIssuerError);
  if (error instanceof VaultUnreachableError) return refusal(CLERK_MESSAGES.VaultUnreachableError);
  if (error instanceof WebkeyInvalidError) {
    // Something shaped like a web key that failed verification is not "no key at all".
    return refusal(
      WEB_KEY_SHAPE.test(input.trim()) ? CLERK_MESSAGES.notGenuine : CLERK_MESSAGES.notAKey,
    );
  }
  if (error instanceof InvalidRequestError) {
    return refusal(
      error.code === 'issuer_required'
        ? CLERK_MESSAGES.issuerRequired
        : CLERK_MESSAGES.InvalidRequestError,
    );
  }
  if (error instanceof VendorAuthenticationError) {
    return refusal(CLERK_MESSAGES.VendorAuthenticationError);
  }
  if (error instanceof RateLimitedError) {
    // Vaults budget failed short codes per vendor and address (docs/security.md); QR codes
    // (web keys) are not affected.
    return refusal(
      WEB_KEY_SHAPE.test(input.trim())
        ? CLERK_MESSAGES.RateLimitedError
        : CLERK_MESSAGES.tooManyShortCodes,
    );
  }
  if (error instanceof VaultResponseError) return refusal(CLERK_MESSAGES.VaultResponseError);
  return refusal(CLERK_MESSAGES.InternalError);
}
