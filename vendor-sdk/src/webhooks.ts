import {
  WEBHOOK_SIGNATURE_VERSION,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookEvent,
  webhookEventSchema,
} from '@webkey/protocol';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { WebhookVerificationError } from './errors.ts';
import { quote } from './quote.ts';

/** Headers as a Fetch `Headers`, or a plain object (Node's `IncomingHttpHeaders`). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function')
    return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value =
    record[name] ?? record[Object.keys(record).find((k) => k.toLowerCase() === name) ?? ''];
  return Array.isArray(value) ? value[0] : value;
}

function refuse(message: string): WebhookVerificationError {
  return new WebhookVerificationError(message, { code: 'webhook_invalid' });
}

/** What {@link verifyWebhookSignature} needs from its caller. */
export interface WebhookCheck {
  /** This vendor's id: an event for another vendor is refused. */
  vendorId: string;
  /** Resolves the vault's key for an issuer and key id; refuses untrusted issuers. */
  keyFor(issuer: string, kid: string): Promise<CryptoKey>;
  now: Date;
  toleranceSeconds?: number;
  /**
   * Remembers (issuer, id, timestamp) for as long as the timestamp passes `toleranceSeconds`;
   * returns false for one already seen (a replay).
   */
  firstSighting(issuer: string, id: string, timestamp: string, toleranceSeconds: number): boolean;
}

/**
 * Verifies a webhook from a vault: the exact raw body and its headers. Checks the timestamp
 * against the tolerance, the vault's ES256 signature over `id.timestamp.body` with the key the
 * vault publishes, refuses a delivery seen before, and only then parses the event.
 */
export async function verifyWebhookSignature(
  rawBody: unknown,
  headers: WebhookHeaders,
  check: WebhookCheck,
): Promise<WebhookEvent> {
  if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
    throw new TypeError(
      'webhooks.verify needs the raw request body (a string or bytes) exactly as received: a parsed object cannot be verified, since re-serializing changes the signed bytes.',
    );
  }
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  const kid = header(headers, 'webhook-key-id');
  const issuer = header(headers, 'webhook-issuer');
  if (!id || !timestamp || !signatures || !kid || !issuer)
    throw refuse('The webhook lacks its id, timestamp, signature, key id or issuer header.');
  if (!/^\d{1,12}$/.test(timestamp))
    throw refuse('The webhook timestamp is not a number of seconds.');
  const tolerance = check.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const skew = Math.abs(Math.floor(check.now.getTime() / 1000) - Number(timestamp));
  if (skew > tolerance)
    throw refuse('The webhook timestamp is outside the tolerance: too old, or from the future.');
  const key = await check.keyFor(issuer, kid);
  // Bytes are verified as they arrived, not as decoded: decoding drops a byte-order mark and
  // mends malformed UTF-8, so other bytes than the vault signed would pass.
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const bodyBytes = typeof rawBody === 'string' ? new TextEncoder().encode(rawBody) : rawBody;
  const signed = new Uint8Array(prefix.length + bodyBytes.length);
  signed.set(prefix);
  signed.set(bodyBytes, prefix.length);
  let valid = false;
  for (const entry of signatures.split(' ')) {
    const [version, encoded] = entry.split(',');
    if (version !== WEBHOOK_SIGNATURE_VERSION || !encoded) continue;
    let signature: Uint8Array<ArrayBuffer>;
    try {
      signature = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    } catch {
      continue; // Not base64: a signature that does not verify.
    }
    // WebCrypto compares in constant time.
    if (await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, signed))
      valid = true;
  }
  if (!valid) throw refuse('The webhook signature does not verify.');
  if (!check.firstSighting(issuer, id, timestamp, tolerance))
    throw refuse('This webhook delivery was seen before: a replay.');
  let event: WebhookEvent;
  try {
    const body =
      typeof rawBody === 'string'
        ? rawBody
        : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(rawBody);
    event = webhookEventSchema.parse(JSON.parse(body));
  } catch {
    throw refuse('The webhook body is not a Webkey event.');
  }
  if (event.id !== id || event.issuer !== issuer)
    throw refuse('The webhook headers and body disagree.');
  // A vendor may name another vendor's endpoint as its webhook: the vault's signature is genuine,
  // but the grant is not this vendor's.
  if (event.vendor !== undefined && event.vendor !== check.vendorId)
    throw refuse(`The webhook is for another vendor, ${quote(event.vendor)}.`);
  return event;
}

/**
 * Resolves an ES256 CryptoKey by kid from a jose key resolver. Only a key the vault does not
 * publish refuses the webhook; failing to fetch the keys (the vault unreachable) is thrown as
 * it is, so the handler answers 5xx and the vault delivers again later.
 */
export async function cryptoKeyFrom(getKey: JWTVerifyGetKey, kid: string): Promise<CryptoKey> {
  try {
    return (await getKey({ alg: 'ES256', kid }, {
      payload: '',
      signature: '',
    } as never)) as CryptoKey;
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JOSENotSupported)
      throw refuse(`The vault publishes no ES256 key ${quote(kid)}.`);
    throw error;
  }
}

/**
 * A memory of deliveries seen, for replay detection. Each is kept until its timestamp can no
 * longer pass the timestamp check: `timestamp + tolerance` seconds by the same clock, where
 * tolerance is the largest this memory was ever asked with (a call with a larger tolerance than
 * an earlier one must not find that delivery forgotten while it would accept it again). None is
 * forgotten while it could still be replayed, unless more than `capacity` arrive meanwhile (then
 * the oldest go first: memory stays bounded). The memory is per process.
 */
export function sightings(
  now: () => number,
  capacity = 100_000,
): (issuer: string, id: string, timestamp: string, toleranceSeconds: number) => boolean {
  // Insertion order is arrival order. Expiries are not in that order (timestamps and
  // tolerances differ), so the sweep stops at the first live entry: an entry may outlive its
  // expiry behind a longer-lived one, never go before it.
  // Each delivery's timestamp: its expiry follows the longest tolerance as it is when swept,
  // not as it was when the delivery arrived.
  const seen = new Map<string, number>();
  let longestTolerance = 0;
  return (issuer, id, timestamp, toleranceSeconds) => {
    const at = now();
    longestTolerance = Math.max(longestTolerance, toleranceSeconds);
    // The check passes while floor(now / 1000) - timestamp <= tolerance.
    for (const [key, seconds] of seen) {
      if ((seconds + longestTolerance + 1) * 1000 > at) break;
      seen.delete(key);
    }
    const key = JSON.stringify([issuer, id, timestamp]);
    if (seen.has(key)) return false;
    seen.set(key, Number(timestamp));
    if (seen.size > capacity) seen.delete(seen.keys().next().value!);
    return true;
  };
}

/**
 * Builds a signed webhook for a vendor's own tests: a body, valid headers, and the key set to
 * verify it with (pass `{ jwks }` to `client.webhooks.verify`).
 *
 * @example
 * const { body, headers, jwks } = await createTestWebhook({ grantId: 'grt_1', paths: ['address.home'] });
 * const event = await client.webhooks.verify(body, headers, { jwks });
 */
export async function createTestWebhook(
  event: Partial<WebhookEvent> = {},
  options: { now?: Date } = {},
): Promise<{
  body: string;
  headers: Record<string, string>;
  jwks: JSONWebKeySet;
  event: WebhookEvent;
}> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = 'ES256';
  const now = options.now ?? new Date();
  const full: WebhookEvent = {
    id: `evt_test_${crypto.randomUUID()}`,
    type: 'grant.data_changed',
    issuer: 'https://vault.test',
    grantId: 'grt_test',
    paths: ['address.home'],
    occurredAt: now.toISOString(),
    ...event,
  };
  const body = JSON.stringify(full);
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      privateKey as CryptoKey,
      new TextEncoder().encode(`${full.id}.${timestamp}.${body}`),
    ),
  );
  return {
    body,
    event: full,
    jwks: { keys: [jwk] },
    headers: {
      'content-type': 'application/json',
      'webhook-id': full.id,
      'webhook-timestamp': timestamp,
      'webhook-signature': `${WEBHOOK_SIGNATURE_VERSION},${btoa(String.fromCharCode(...signature))}`,
      'webhook-key-id': jwk.kid,
      'webhook-issuer': full.issuer,
    },
  };
}

/** A key resolver over a fixed key set (tests). */
export function localKeys(jwks: JSONWebKeySet): JWTVerifyGetKey {
  return createLocalJWKSet(jwks);
}
