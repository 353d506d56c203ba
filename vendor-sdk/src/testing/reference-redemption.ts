import { createHash } from 'node:crypto';
import type { RedemptionResponse, WebkeyClaims } from '@webkey/protocol';
import {
  CLIENT_ASSERTION_ALGORITHMS,
  CLIENT_ASSERTION_JWT_TYPE,
  MAX_ASSERTION_LIFETIME_SECONDS,
  normalizeShortCode,
  parseScopeItem,
  redemptionRequestSchema,
  WEBKEY_JWT_TYPE,
  WEBKEY_SIGNING_ALGORITHMS,
  webkeyClaimsSchema,
} from '@webkey/protocol';
import type { JWK, JWTPayload, KeyObject } from 'jose';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { ScriptedAnswer } from './answers.ts';
import { json, problem } from './answers.ts';

/**
 * The test vault's default redemption behaviour: a small reference of what a real vault does,
 * so vendor tests exercise realistic answers. It keeps everything in memory.
 */

/**
 * One redemption request as the test vault received it.
 *
 * @example
 * expect(vault.redemptions[0]?.idempotencyKey).toBe('pos-42-sale-7');
 */
export interface RecordedRedemption {
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  idempotencyKey: string | undefined;
  /** The parsed JSON body (an empty object when it was not JSON). */
  body: Record<string, unknown>;
}

/**
 * The state the reference behaviour reads and updates (built by {@link startTestVault}).
 *
 * @example
 * state.revoked.add(jti);
 */
export interface ReferenceState {
  issuer: string;
  publicKey: CryptoKey | KeyObject;
  now: () => Date;
  /** Record values by path. */
  records: Record<string, unknown>;
  /** Derived claim values by name. */
  claims: Record<string, boolean>;
  /** Vendor public keys by vendor id; when set, assertions must verify against them. */
  vendorKeys: Record<string, readonly JWK[]> | undefined;
  /** Web keys by normalized short code. */
  codes: Map<string, string>;
  /** Uses left by key id; a key not in the map was not issued here. */
  usesLeft: Map<string, number>;
  revoked: Set<string>;
  seenAssertionIds: Set<string>;
  /** Successful answers by Idempotency-Key, with the request they answered. */
  idempotent: Map<string, { fingerprint: string; answer: ScriptedAnswer }>;
  nextId: () => string;
}

/**
 * Redeems like a vault: checks the request and the vendor's assertion, resolves the key (JWS or
 * short code), refuses expired, other-vendor, used-up, revoked and unknown keys alike
 * (`webkey_refused`), replays successful answers per Idempotency-Key (refusals and errors are
 * not remembered: a retry gets a fresh decision, protocol 9), and grants the scope.
 *
 * @example
 * vault.script((request, actions) => actions.redeem(request));
 */
export async function referenceRedemption(
  state: ReferenceState,
  request: RecordedRedemption,
): Promise<ScriptedAnswer> {
  const parsed = redemptionRequestSchema.safeParse(request.body);
  if (!parsed.success) return problem('invalid_request', { detail: parsed.error.message });
  const vendorId = await authenticate(state, parsed.data.client_assertion);
  if (vendorId === undefined) return problem('invalid_client');

  const fingerprint = `${vendorId} ${parsed.data.key ?? ''} ${normalizeShortCode(parsed.data.code ?? '') ?? ''}`;
  const replay = request.idempotencyKey && state.idempotent.get(request.idempotencyKey);
  if (replay) {
    return replay.fingerprint === fingerprint ? replay.answer : problem('idempotency_key_reused');
  }
  const answer = await redeemKey(state, parsed.data, vendorId);
  if (request.idempotencyKey && 'status' in answer && answer.status === 200) {
    state.idempotent.set(request.idempotencyKey, { fingerprint, answer });
  }
  return answer;
}

async function redeemKey(
  state: ReferenceState,
  body: { key?: string | undefined; code?: string | undefined },
  vendorId: string,
): Promise<ScriptedAnswer> {
  const jws = body.key ?? state.codes.get(normalizeShortCode(body.code ?? '') ?? '');
  if (jws === undefined) return problem('webkey_refused');
  let claims: WebkeyClaims;
  try {
    const { payload } = await jwtVerify(jws, state.publicKey, {
      algorithms: [...WEBKEY_SIGNING_ALGORITHMS],
      typ: WEBKEY_JWT_TYPE,
      issuer: state.issuer,
      currentDate: state.now(),
    });
    claims = webkeyClaimsSchema.parse(payload);
  } catch {
    return problem('webkey_refused');
  }
  const usesLeft = state.usesLeft.get(claims.jti);
  const refused =
    usesLeft === undefined ||
    usesLeft < 1 ||
    state.revoked.has(claims.jti) ||
    (claims.aud !== undefined && claims.aud !== vendorId);
  if (refused) return problem('webkey_refused');
  state.usesLeft.set(claims.jti, usesLeft - 1);

  const answer: RedemptionResponse = {
    redemptionId: state.nextId(),
    keyId: claims.jti,
    issuer: state.issuer,
    subject: pairwiseSubject(state.issuer, vendorId),
    redeemedAt: state.now().toISOString(),
    purpose: claims.purpose,
    scope: claims.scope,
    usesLeft: usesLeft - 1,
    auditEntryId: state.nextId(),
    fields: {},
    claims: {},
    missing: [],
    key: jws,
  };
  for (const item of claims.scope) {
    const scope = parseScopeItem(item);
    if (scope?.kind === 'path' && Object.hasOwn(state.records, item)) {
      const category = item.split('.')[0] ?? item;
      answer.fields[item] = { category, versionId: state.nextId(), value: state.records[item] };
    } else if (scope?.kind === 'age_over' && Object.hasOwn(state.claims, item)) {
      answer.claims[item] = state.claims[item] === true;
    } else {
      answer.missing.push(item);
    }
  }
  return json(200, answer);
}

/** The vendor id of a valid assertion, or undefined. */
async function authenticate(state: ReferenceState, assertion: string): Promise<string | undefined> {
  let payload: JWTPayload;
  try {
    const [, body] = assertion.split('.');
    payload = JSON.parse(Buffer.from(body ?? '', 'base64url').toString('utf8')) as JWTPayload;
    if (typeof payload.iss !== 'string') return undefined;
    const header = decodeProtectedHeader(assertion);
    const algorithms: readonly string[] = CLIENT_ASSERTION_ALGORITHMS;
    if (header.typ !== CLIENT_ASSERTION_JWT_TYPE || !algorithms.includes(header.alg ?? '')) {
      return undefined;
    }
    const keys = state.vendorKeys;
    if (keys !== undefined) {
      const vendorKeys = keys[payload.iss];
      if (vendorKeys === undefined) return undefined;
      ({ payload } = await jwtVerify(assertion, createLocalJWKSet({ keys: [...vendorKeys] }), {
        algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
        typ: CLIENT_ASSERTION_JWT_TYPE,
        currentDate: state.now(),
      }));
    }
  } catch {
    return undefined;
  }
  const { iss, sub, aud, jti, iat, exp } = payload;
  const valid =
    sub === iss &&
    aud === state.issuer &&
    typeof jti === 'string' &&
    !state.seenAssertionIds.has(jti) &&
    typeof iat === 'number' &&
    typeof exp === 'number' &&
    exp - iat <= MAX_ASSERTION_LIFETIME_SECONDS;
  if (!valid) return undefined;
  state.seenAssertionIds.add(jti);
  return iss;
}

/**
 * A stable per-vendor customer id, unlinkable across vendors, of the form a vault sends
 * (protocol 10): 43 base64url characters, the encoding of 32 bytes. The test vault has one
 * customer, so the bytes are a SHA-256 of the issuer and vendor id (a real vault keys an HMAC
 * with the customer's data key).
 *
 * @example
 * pairwiseSubject('https://vault.example', 'https://shop.example/v.json') // 'Jm1x…' (43 characters)
 */
export function pairwiseSubject(issuer: string, vendorId: string): string {
  return createHash('sha256').update(`${issuer}\n${vendorId}`).digest('base64url');
}
