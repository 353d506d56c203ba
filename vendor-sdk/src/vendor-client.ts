import type {
  RedemptionRequest,
  RedemptionResponse,
  VaultMetadata,
  WebhookEvent,
  WebkeyClaims,
} from '@webkey/protocol';
import {
  CLIENT_ASSERTION_TYPE,
  DEPOSIT_JWT_TYPE,
  type DepositContent,
  type DepositKind,
  type DepositResponse,
  depositClaimsSchema,
  depositResponseSchema,
  grantReadRequestSchema,
  grantReadResponseSchema,
  redemptionRequestSchema,
  redemptionResponseSchema,
} from '@webkey/protocol';
import { type JSONWebKeySet, type JWTVerifyGetKey, SignJWT } from 'jose';
import type { SigningKey, VendorPrivateKey } from './client-assertion.ts';
import { checkVendorPrivateKey, loadSigningKey, signClientAssertion } from './client-assertion.ts';
import type { Clock, FetchLike, RandomBytes } from './deps.ts';
import { globalFetch, randomId, systemClock, systemRandom } from './deps.ts';
import type { RefusalHint } from './errors.ts';
import {
  InvalidRequestError,
  UntrustedIssuerError,
  VaultResponseError,
  WebhookVerificationError,
  WebkeyInvalidError,
} from './errors.ts';
import { GrantRead } from './grant-read.ts';
import { grantedScopeFaults } from './granted-scope.ts';
import { quote } from './quote.ts';
import type { RedeemInput } from './redeem-input.ts';
import { parseRedeemInput } from './redeem-input.ts';
import { Redemption } from './redemption.ts';
import type { RetryOptions, SenderDeps } from './retrying-sender.ts';
import { retrySettings, sendWithRetries } from './retrying-sender.ts';
import type { TrustPolicy } from './trust.ts';
import { canBeTrusted, isTrustedIssuer, isVendorId, soleTrustedIssuer } from './trust.ts';
import { errorFromResponse, MAX_ANSWER_BYTES, readBody, requestIdOf } from './vault-answers.ts';
import { VaultDirectory } from './vault-directory.ts';
import { verifyWebkey } from './verify-webkey.ts';
import {
  cryptoKeyFrom,
  localKeys,
  sightings,
  verifyWebhookSignature,
  type WebhookHeaders,
} from './webhooks.ts';

/**
 * How to build a {@link VendorClient}.
 *
 * @example
 * const options: VendorClientOptions = { clientId, privateKey, trust: { issuers: [issuer] } };
 */
export interface VendorClientOptions {
  /** The vendor's id: the https URL of its metadata document. */
  clientId: string;
  /** The private key whose public half the metadata document lists. */
  privateKey: VendorPrivateKey;
  /** The `kid` to send; by default the JWK's `kid` or its thumbprint. */
  keyId?: string;
  /** Which vaults' keys to accept. */
  trust: TrustPolicy;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Default: `() => new Date()`. */
  clock?: Clock;
  /** Default: `crypto.getRandomValues`. */
  random?: RandomBytes;
  retry?: RetryOptions;
}

/**
 * Per-call options of {@link VendorClient.redeem}.
 *
 * @example
 * await client.redeem('7KQ2-M9XD-4TRA', { issuer: 'https://vault.example', signal: AbortSignal.timeout(15_000) });
 */
export interface RedeemOptions {
  /**
   * The vault to ask. Needed for a short code unless the trust policy lists exactly one issuer;
   * for a web key it must equal the key's `iss` when given.
   */
  issuer?: string;
  /**
   * Reused on every retry; pass your own to retry a whole `redeem()` safely after a
   * {@link VaultUnreachableError}. Default: a fresh random value per call.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/**
 * Per-call options of `client.grants.read`.
 *
 * @example
 * await client.grants.read(stored.grantId, { issuer: stored.issuer, scope: stored.scope });
 */
export interface GrantReadOptions {
  /** The vault that issued the grant. Needed unless the trust policy lists exactly one issuer. */
  issuer?: string;
  /**
   * The grant's signed scope: the `scope` of the {@link Redemption} that opened it (the web key's
   * own, checked against its signature), kept with the grant id, in any order. When given, the
   * answer's scope must hold the same items and every field and claim must be one of them. Without it the SDK checks
   * the answer only against the scope the vault names in that same answer (each field a record
   * path of it, of its category; each claim a derived claim of it; each item answered once),
   * which cannot catch a vault that widens the scope of a grant.
   */
  scope?: readonly string[];
  signal?: AbortSignal;
}

/**
 * Redeems web keys from any trusted vault: verifies the key locally, authenticates as the
 * vendor with a fresh client assertion per attempt, retries safely, and returns the grant.
 *
 * @example
 * const client = new VendorClient({
 *   clientId: 'https://shop.example/webkey-vendor.json',
 *   privateKey: JSON.parse(await readFile('vendor-key.json', 'utf8')),
 *   trust: { issuers: ['https://vault.example'] },
 * });
 * const redemption = await client.redeem(scannedQrText);
 * console.log(redemption.field('address.home')?.locality);
 */
export class VendorClient {
  /** The vendor's id (its metadata document URL). */
  readonly clientId: string;
  readonly #trust: TrustPolicy;
  readonly #deps: SenderDeps;
  readonly #directory: VaultDirectory;
  readonly #signingKey: Promise<SigningKey>;

  /**
   * Standing grants: re-read the data a customer granted until they revoke it or it expires.
   * Pass the grant's signed scope (the `scope` of the redemption that opened it) to have the
   * answer checked against it; without it the SDK can only check the answer against the scope
   * the vault itself names in it (see {@link GrantReadOptions.scope}).
   *
   * @example
   * const fresh = await client.grants.read(redemption.grant!.id, {
   *   issuer: redemption.issuer,
   *   scope: redemption.scope,
   * });
   */
  readonly grants: {
    read(grantId: string, options?: GrantReadOptions): Promise<GrantRead>;
  } = { read: (grantId, options = {}) => this.#readGrant(grantId, options) };

  /**
   * Change notifications from vaults: verify a webhook request before acting on it. Replays
   * are refused for as long as the timestamp passes the tolerance (`toleranceSeconds`, default
   * 300), by a memory of this client in this process only.
   *
   * @example
   * const event = await client.webhooks.verify(await request.text(), request.headers);
   * const fresh = await client.grants.read(event.grantId, { issuer: event.issuer });
   */
  readonly webhooks: {
    verify(
      rawBody: string | Uint8Array,
      headers: WebhookHeaders,
      options?: { jwks?: JSONWebKeySet; toleranceSeconds?: number },
    ): Promise<WebhookEvent>;
  } = {
    verify: (rawBody, headers, options = {}) => this.#verifyWebhook(rawBody, headers, options),
  };

  /**
   * Write-back: deposit a record you produced (a receipt, an order, a prescription you issued)
   * into the customer's vault, under a standing grant that allows its kind. The record is signed
   * with your key. Depositing the same `ref` again makes a new version.
   *
   * @example
   * await client.records.deposit(grantId, { kind: 'receipt', ref: 'INV-1042', content: { title: 'Glasses', issuedOn: '2026-11-23' } });
   */
  readonly records: {
    deposit(
      grantId: string,
      record: { kind: DepositKind; ref: string; content: DepositContent },
      options?: { issuer?: string; signal?: AbortSignal },
    ): Promise<DepositResponse>;
  } = { deposit: (grantId, record, options = {}) => this.#deposit(grantId, record, options) };

  readonly #firstSighting = sightings(() => this.#deps.clock().getTime());

  constructor(options: VendorClientOptions) {
    // Refused here, before any request: a vault would refuse every assertion of it.
    if (typeof options.clientId !== 'string' || !isVendorId(options.clientId)) {
      throw new TypeError(
        'clientId must be the https URL of the vendor metadata document (plain http only on this machine), in normal form, without fragment or credentials',
      );
    }
    checkVendorPrivateKey(options.privateKey);
    if (typeof options.trust !== 'function' && !Array.isArray(options.trust?.issuers)) {
      throw new TypeError('trust must be { issuers: [...] } or a function (issuer) => boolean');
    }
    const insecure =
      typeof options.trust === 'function'
        ? undefined
        : options.trust.issuers.find((issuer) => !canBeTrusted(issuer));
    if (insecure !== undefined) {
      throw new TypeError(
        `trust.issuers: ${quote(insecure)} is not an https URL (plain http only for localhost)`,
      );
    }
    this.clientId = options.clientId;
    this.#trust = options.trust;
    this.#deps = {
      fetch: options.fetch ?? globalFetch,
      clock: options.clock ?? systemClock,
      random: options.random ?? systemRandom,
      retry: retrySettings(options.retry),
    };
    this.#directory = new VaultDirectory(this.#deps);
    this.#signingKey = loadSigningKey(options.privateKey, options.keyId);
    // A key that passed the check but does not import surfaces on the first request, not as an
    // unhandled rejection.
    this.#signingKey.catch(() => {});
  }

  /**
   * Redeems a web key (the QR code's text) or a short code and returns the granted fields.
   * Nothing is sent for an untrusted vault or a key that fails verification.
   *
   * @example
   * try {
   *   const redemption = await client.redeem(scanned);
   *   fillForm(redemption.field('profile'), redemption.field('insurance.primary'));
   * } catch (error) {
   *   if (error instanceof WebkeyExpiredError) askForNewKey();
   *   else throw error;
   * }
   */
  async redeem(input: string, options: RedeemOptions = {}): Promise<Redemption> {
    const parsed = parseRedeemInput(input);
    const issuer = this.#issuerFor(parsed, options.issuer);
    // Trust first: an attacker's QR code must not make us fetch its URLs.
    if (!(await isTrustedIssuer(this.#trust, issuer))) throw new UntrustedIssuerError(issuer);
    // A key that does not import fails here, before any request.
    await this.#signingKey;
    const metadata = await this.#directory.metadata(issuer, options.signal);
    const getKey = this.#directory.keyResolver(metadata, options.signal);

    let refusal: RefusalHint;
    let keyClaims: WebkeyClaims | undefined;
    if (parsed.kind === 'key') {
      const { claims, expired } = await verifyWebkey(parsed.key, {
        issuer,
        getKey,
        now: this.#deps.clock(),
      });
      keyClaims = claims;
      // Expired and other-vendor keys are still sent: the vault records the refusal in the
      // customer's activity log, and stays the authority on time and binding.
      if (claims.aud !== undefined && claims.aud !== this.clientId) refusal = 'not_for_you';
      else if (expired) refusal = 'expired';
    }

    const response = await this.#post(metadata, parsed, options);
    if (response.status !== 200) {
      throw await errorFromResponse(response, refusal, this.#deps.clock());
    }
    const requestId = requestIdOf(response);
    const answer = await readBody(response, redemptionResponseSchema, 'redemption answer');
    await this.#checkAnswer(answer, { issuer, parsed, keyClaims, getKey, requestId });
    return new Redemption(answer, requestId);
  }

  async #verifyWebhook(
    rawBody: unknown,
    headers: WebhookHeaders,
    options: { jwks?: JSONWebKeySet; toleranceSeconds?: number },
  ): Promise<WebhookEvent> {
    return verifyWebhookSignature(rawBody, headers, {
      vendorId: this.clientId,
      now: this.#deps.clock(),
      ...(options.toleranceSeconds === undefined
        ? {}
        : { toleranceSeconds: options.toleranceSeconds }),
      firstSighting: this.#firstSighting,
      keyFor: async (issuer, kid) => {
        if (options.jwks) return cryptoKeyFrom(localKeys(options.jwks), kid);
        // Trust first: a forged request must not make us fetch its URLs. Refused like any
        // forgery (answer 400): it is a request to drop, not a vault to retry.
        if (!(await isTrustedIssuer(this.#trust, issuer))) {
          throw new WebhookVerificationError(
            `The webhook names the issuer ${quote(issuer)}, which this point of sale does not trust.`,
            { code: 'webhook_invalid' },
          );
        }
        const metadata = await this.#directory.metadata(issuer);
        return cryptoKeyFrom(this.#directory.keyResolver(metadata), kid);
      },
    });
  }

  /**
   * The client authentication members of a vendor request: a fresh assertion (new jti and iat)
   * every time, since the vault accepts an assertion once.
   */
  async #authentication(
    signingKey: SigningKey,
    audience: string,
  ): Promise<{ client_assertion_type: typeof CLIENT_ASSERTION_TYPE; client_assertion: string }> {
    return {
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await signClientAssertion(signingKey, {
        clientId: this.clientId,
        audience,
        now: this.#deps.clock(),
        jti: randomId(this.#deps.random),
      }),
    };
  }

  async #deposit(
    grantId: string,
    record: { kind: DepositKind; ref: string; content: DepositContent },
    options: { issuer?: string; signal?: AbortSignal },
  ): Promise<DepositResponse> {
    checkGrantId(grantId);
    const issuer = options.issuer ?? soleTrustedIssuer(this.#trust);
    if (issuer === undefined) {
      throw new InvalidRequestError(
        'Pass { issuer }: a grant id does not say which vault issued it.',
        {
          code: 'issuer_required',
        },
      );
    }
    // Typed validation before anything leaves: the same schema the vault applies.
    const checked = depositClaimsSchema
      .pick({ kind: true, ref: true, content: true })
      .safeParse({ kind: record.kind, ref: record.ref, content: record.content });
    if (!checked.success) {
      throw new InvalidRequestError('The record does not match the deposit schema.', {
        code: 'invalid_request',
        issues: checked.error.issues.map((issue) => ({
          pointer: `/${issue.path.join('/')}`,
          message: issue.message,
        })),
      });
    }
    if (!(await isTrustedIssuer(this.#trust, issuer))) throw new UntrustedIssuerError(issuer);
    // A key that does not import fails before any request.
    const signingKey = await this.#signingKey;
    const metadata = await this.#directory.metadata(issuer, options.signal);
    if (metadata.deposit_endpoint === undefined) {
      throw new VaultResponseError('This vault does not accept deposits.', {
        code: 'unexpected_response',
      });
    }
    const now = this.#deps.clock();
    const deposit = await new SignJWT({ grant: grantId, ...checked.data })
      .setProtectedHeader({
        alg: signingKey.alg,
        typ: DEPOSIT_JWT_TYPE,
        ...(signingKey.kid === undefined ? {} : { kid: signingKey.kid }),
      })
      .setIssuer(this.clientId)
      .setAudience(metadata.issuer)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setJti(randomId(this.#deps.random))
      .sign(signingKey.key);
    const response = await sendWithRetries(this.#deps, {
      url: metadata.deposit_endpoint,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: async () =>
        JSON.stringify({
          deposit,
          ...(await this.#authentication(signingKey, metadata.issuer)),
        }),
      maxBytes: MAX_ANSWER_BYTES,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (response.status !== 201)
      throw await errorFromResponse(response, undefined, this.#deps.clock());
    return readBody(response, depositResponseSchema, 'deposit answer');
  }

  async #readGrant(grantId: string, options: GrantReadOptions): Promise<GrantRead> {
    checkGrantId(grantId);
    const issuer = options.issuer ?? soleTrustedIssuer(this.#trust);
    if (issuer === undefined) {
      throw new InvalidRequestError(
        'A grant id does not say which vault issued it: pass { issuer }, or trust exactly one issuer.',
        { code: 'issuer_required' },
      );
    }
    if (!(await isTrustedIssuer(this.#trust, issuer))) throw new UntrustedIssuerError(issuer);
    // A key that does not import fails before any request.
    const signingKey = await this.#signingKey;
    const metadata = await this.#directory.metadata(issuer, options.signal);
    if (metadata.grant_read_endpoint === undefined) {
      throw new VaultResponseError('This vault does not offer standing grants.', {
        code: 'unexpected_response',
      });
    }
    // A re-read changes nothing but the audit log, so retrying it is safe.
    const response = await sendWithRetries(this.#deps, {
      url: metadata.grant_read_endpoint,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: async () =>
        JSON.stringify(
          grantReadRequestSchema.parse({
            grant: grantId,
            ...(await this.#authentication(signingKey, metadata.issuer)),
          }),
        ),
      maxBytes: MAX_ANSWER_BYTES,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (response.status !== 200)
      throw await errorFromResponse(response, undefined, this.#deps.clock());
    const requestId = requestIdOf(response);
    const answer = await readBody(response, grantReadResponseSchema, 'grant read answer');
    // The signed scope when the caller kept it; otherwise only the answer's own consistency.
    const scope = options.scope ?? answer.scope;
    const faults = sameItems(answer.scope, scope)
      ? grantedScopeFaults(answer, scope)
      : ['scope: not the scope the grant was opened with'];
    if (answer.issuer !== issuer || answer.grantId !== grantId || faults.length > 0) {
      throw new VaultResponseError(
        'The vault answered about another grant, or outside its scope.',
        {
          code: 'unexpected_response',
          status: 200,
          requestId,
          ...(faults.length === 0 ? {} : { detail: faults.join('; ') }),
        },
      );
    }
    return new GrantRead(answer, requestId);
  }

  #issuerFor(parsed: RedeemInput, requested: string | undefined): string {
    if (parsed.kind === 'key') {
      if (requested !== undefined && requested !== parsed.issuer) {
        // Quoted: the key's issuer is not verified yet, and may carry terminal escapes.
        throw new UntrustedIssuerError(
          parsed.issuer,
          `This web key was issued by ${quote(parsed.issuer)}, not by ${quote(requested)} as requested.`,
        );
      }
      if (!isHttpUrl(parsed.issuer)) {
        throw new WebkeyInvalidError('This web key names no vault URL.', {
          code: 'webkey_invalid',
        });
      }
      return parsed.issuer;
    }
    const issuer = requested ?? soleTrustedIssuer(this.#trust);
    if (issuer === undefined) {
      throw new InvalidRequestError(
        'A short code does not say which vault issued it: pass { issuer } to redeem(), or trust exactly one issuer.',
        { code: 'issuer_required' },
      );
    }
    if (!isHttpUrl(issuer)) throw new TypeError(`issuer ${quote(issuer)} is not a URL`);
    return issuer;
  }

  async #post(
    metadata: VaultMetadata,
    parsed: RedeemInput,
    options: RedeemOptions,
  ): Promise<Response> {
    const idempotencyKey = options.idempotencyKey ?? randomId(this.#deps.random);
    if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new TypeError('idempotencyKey must be 1 to 255 visible ASCII characters');
    }
    const signingKey = await this.#signingKey;
    const subject =
      parsed.kind === 'key'
        ? { key: parsed.key }
        : { code: parsed.code.length <= 64 ? parsed.code : parsed.normalized };
    return sendWithRetries(this.#deps, {
      url: metadata.redemption_endpoint,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'idempotency-key': idempotencyKey,
      },
      // Rebuilt per attempt: a fresh assertion (new jti, new iat) every time.
      body: async () => {
        const body: RedemptionRequest = redemptionRequestSchema.parse({
          ...subject,
          ...(await this.#authentication(signingKey, metadata.issuer)),
        });
        return JSON.stringify(body);
      },
      maxBytes: MAX_ANSWER_BYTES,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /**
   * Defence in depth on a 200: the answer must come from the vault we asked, be about the key
   * we sent (or, for a short code, carry a key of that vault that verifies), repeat the key's
   * scope and purpose, answer each scope item exactly once and nothing outside it, and open a
   * standing grant only for a key that makes one (protocol 8.4).
   */
  async #checkAnswer(
    answer: RedemptionResponse,
    context: {
      issuer: string;
      parsed: RedeemInput;
      keyClaims: WebkeyClaims | undefined;
      getKey: JWTVerifyGetKey;
      requestId: string | undefined;
    },
  ): Promise<void> {
    const refuse = (message: string, detail?: string) =>
      new VaultResponseError(message, {
        code: 'unexpected_response',
        status: 200,
        requestId: context.requestId,
        ...(detail === undefined ? {} : { detail }),
      });
    if (answer.issuer !== context.issuer) {
      throw refuse(`The vault answered as ${quote(answer.issuer)}, not ${quote(context.issuer)}.`);
    }
    let claims = context.keyClaims;
    if (context.parsed.kind === 'key') {
      if (answer.key !== context.parsed.key) throw refuse('The vault answered about another key.');
    } else {
      try {
        // An expired answer key is accepted: the vault, not our clock, decides expiry.
        ({ claims } = await verifyWebkey(answer.key, {
          issuer: context.issuer,
          getKey: context.getKey,
          now: this.#deps.clock(),
        }));
      } catch (error) {
        if (!(error instanceof WebkeyInvalidError)) throw error;
        throw refuse(
          'The key the vault returned for the short code does not verify.',
          error.detail,
        );
      }
    }
    if (claims === undefined) throw refuse('The vault answered without a key.');
    if (answer.keyId !== claims.jti) throw refuse('The vault answered with another key id.');
    if (claims.aud !== undefined && claims.aud !== this.clientId) {
      throw refuse('The vault redeemed a key bound to another vendor.');
    }
    // The answer's scope and purpose are what the point of sale records the data under: they
    // must be the signed ones, not whatever a faulty vault writes (protocol 8.4).
    if (!sameList(answer.scope, claims.scope)) {
      throw refuse('The vault answered with another scope than the key grants.');
    }
    if (answer.purpose !== claims.purpose) {
      throw refuse('The vault answered with another purpose than the key states.');
    }
    // A vendor never receives an item outside the key's scope (a non-negotiable of the
    // protocol); checked here too, so a faulty vault cannot push data we must not hold.
    const faults = grantedScopeFaults(answer, claims.scope);
    if (faults.length > 0) {
      throw refuse('The vault sent items outside the key scope.', faults.join('; '));
    }
    // A standing grant only from a key the customer made one with (protocol 8.6), and writes
    // only of the kinds the key allows.
    if (answer.grant !== undefined && claims.grant_days === undefined) {
      throw refuse('The vault opened a standing grant the key does not make.');
    }
    const writable = new Set(claims.grant_writes ?? []);
    if (answer.grant?.writes?.some((kind) => !writable.has(kind))) {
      throw refuse('The vault allowed deposits of kinds the key does not grant.');
    }
  }
}

/** A grant id the vault could take (protocol 8.6), else InvalidRequestError before any request. */
function checkGrantId(grantId: unknown): void {
  const checked = grantReadRequestSchema.shape.grant.safeParse(grantId);
  if (!checked.success) {
    throw new InvalidRequestError('The grant id is not one a vault issues (1 to 64 characters).', {
      code: 'invalid_request',
      issues: checked.error.issues.map((issue) => ({ pointer: '/grant', message: issue.message })),
    });
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

/** The same items, in any order: a vendor may have stored a grant's scope as a set. */
function sameItems(a: readonly string[], b: readonly string[]): boolean {
  const items = new Set(b);
  return a.length === b.length && items.size === b.length && a.every((item) => items.has(item));
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}
