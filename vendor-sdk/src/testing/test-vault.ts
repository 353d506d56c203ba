import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VaultMetadata, WebkeyClaims } from '@webkey/protocol';
import {
  CLIENT_ASSERTION_ALGORITHMS,
  formatShortCode,
  normalizeShortCode,
  PROBLEM_MEDIA_TYPE,
  VAULT_METADATA_PATH,
  WEBKEY_JWT_TYPE,
  WEBKEY_LIFETIME,
} from '@webkey/protocol';
import type { JWK } from 'jose';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { ScriptedAnswer } from './answers.ts';
import { problem } from './answers.ts';
import type { RecordedRedemption, ReferenceState } from './reference-redemption.ts';
import { referenceRedemption } from './reference-redemption.ts';

/**
 * A scripted Webkey vault on 127.0.0.1 for vendor tests: real discovery, a real ES256 key set,
 * real signed web keys and short codes, and a redemption endpoint that behaves like a vault
 * by default or however a test scripts it. Every request is recorded.
 */

/**
 * How to start a {@link TestVault}.
 *
 * @example
 * await startTestVault({ records: { profile: { legalName: 'Ada Lovelace' } }, vendorKeys });
 */
export interface TestVaultOptions {
  /** Record values the default behaviour grants, by path (`address.home`). */
  records?: Record<string, unknown>;
  /** Derived claim values (`profile.age_over_21`). */
  claims?: Record<string, boolean>;
  /**
   * Vendor public keys by vendor id. When given, client assertions must verify against them;
   * when absent, assertions are checked for shape, audience and replay but not signature.
   */
  vendorKeys?: Record<string, readonly JWK[]>;
  /** The vault's clock for issuing and checking keys. Default: system time. */
  clock?: () => Date;
}

/**
 * What to put in a web key the test vault issues.
 *
 * @example
 * await vault.issueWebkey({ scope: ['address.home'], aud: vendorId, expiresIn: -60 }); // expired
 */
export interface IssueWebkeyOptions {
  /** The vendor id the key is bound to; unbound when absent. */
  aud?: string;
  /** Default `['profile']`. */
  scope?: string[];
  purpose?: string;
  uses?: number;
  /** Seconds from now; negative for a key that has already expired. Default 600. */
  expiresIn?: number;
  /** Extra or replaced protected header members (`typ`, `kid`). */
  header?: Record<string, unknown>;
  /** Extra or replaced claims. */
  claims?: Record<string, unknown>;
}

/**
 * A web key issued by the test vault.
 *
 * @example
 * const { key, code, jti } = await vault.issueWebkey();
 */
export interface IssuedWebkey {
  /** The compact JWS: the QR code's text. */
  key: string;
  /** Its short code, `XXXX-XXXX-XXXX`. */
  code: string;
  jti: string;
  claims: WebkeyClaims;
}

/**
 * What a script can do besides answering by hand.
 *
 * @example
 * vault.script((request, actions) => actions.redeem(request));
 */
export interface TestVaultActions {
  /** The default, vault-like behaviour. */
  redeem(request: RecordedRedemption): Promise<ScriptedAnswer>;
}

/**
 * Decides the answer to one redemption request.
 *
 * @example
 * const flaky: RedemptionScript = (request, actions) =>
 *   vault.redemptions.length === 1 ? problem('service_unavailable') : actions.redeem(request);
 */
export type RedemptionScript = (
  request: RecordedRedemption,
  actions: TestVaultActions,
) => ScriptedAnswer | Promise<ScriptedAnswer>;

/**
 * A running test vault.
 *
 * @example
 * const vault: TestVault = await startTestVault();
 * afterAll(() => vault.close());
 */
export interface TestVault {
  /** `http://127.0.0.1:<port>`. */
  readonly issuer: string;
  readonly redemptionEndpoint: string;
  /** Every redemption request received, in order. */
  readonly redemptions: RecordedRedemption[];
  /** Every request received (`GET /.well-known/webkey-vault`, ...), in order. */
  readonly requests: string[];
  /** The vault's public signing key. */
  readonly publicJwk: JWK;
  issueWebkey(options?: IssueWebkeyOptions): Promise<IssuedWebkey>;
  /** Revokes a key by id; later redemptions are refused. */
  revoke(jti: string): void;
  /** Replaces the redemption behaviour; `undefined` restores the default. */
  script(script: RedemptionScript | undefined): void;
  /** Replaces members of the discovery document (`{ issuer: 'https://other.example' }`). */
  setDiscovery(overrides: Partial<Record<keyof VaultMetadata, unknown>>): void;
  close(): Promise<void>;
}

const JWKS_PATH = '/jwks.json';
const REDEMPTION_PATH = '/redeem';

/**
 * Starts a test vault on an ephemeral port of 127.0.0.1.
 *
 * @example
 * const vault = await startTestVault({ records: { 'address.home': home } });
 * const { key } = await vault.issueWebkey({ scope: ['address.home'], aud: vendorId });
 * const client = new VendorClient({ clientId: vendorId, privateKey, trust: { issuers: [vault.issuer] } });
 * expect((await client.redeem(key)).field('address.home')).toEqual(home);
 * await vault.close();
 */
export async function startTestVault(options: TestVaultOptions = {}): Promise<TestVault> {
  const now = options.clock ?? (() => new Date());
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  Object.assign(publicJwk, { kid, alg: 'ES256', use: 'sig' });

  let counter = 0;
  const nextId = () => `id_${(++counter).toString(36).padStart(6, '0')}`;
  const redemptions: RecordedRedemption[] = [];
  const requests: string[] = [];
  let script: RedemptionScript | undefined;
  let discoveryOverrides: Record<string, unknown> = {};
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const state: ReferenceState = {
    issuer,
    publicKey,
    now,
    records: options.records ?? {},
    claims: options.claims ?? {},
    vendorKeys: options.vendorKeys,
    codes: new Map(),
    usesLeft: new Map(),
    revoked: new Set(),
    seenAssertionIds: new Set(),
    idempotent: new Map(),
    nextId,
  };
  const actions: TestVaultActions = { redeem: (request) => referenceRedemption(state, request) };

  const discovery = (): Record<string, unknown> => ({
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    redemption_endpoint: `${issuer}${REDEMPTION_PATH}`,
    scopes_supported: ['profile', 'contact', 'preferences', 'address.*', 'insurance.*'],
    claims_supported: ['profile.age_over_<N>'],
    webkey_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGORITHMS],
    short_code_symbols: 12,
    webkey_max_lifetime_seconds: WEBKEY_LIFETIME.max,
    ...discoveryOverrides,
  });

  const route = async (request: IncomingMessage): Promise<ScriptedAnswer> => {
    const path = new URL(request.url ?? '/', issuer).pathname;
    if (request.method === 'GET' && path === VAULT_METADATA_PATH) {
      return { status: 200, body: discovery() };
    }
    if (request.method === 'GET' && path === JWKS_PATH) {
      return { status: 200, body: { keys: [publicJwk] } };
    }
    if (request.method === 'POST' && path === REDEMPTION_PATH) {
      const recorded = await record(request);
      redemptions.push(recorded);
      return script ? script(recorded, actions) : actions.redeem(recorded);
    }
    return problem('not_found');
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    requests.push(`${request.method} ${request.url}`);
    const requestId = `req_${nextId()}`;
    route(request)
      .catch((error: unknown) => problem('internal_error', { detail: String(error) }))
      .then((answer) => send(response, answer, requestId));
  });

  return {
    issuer,
    redemptionEndpoint: `${issuer}${REDEMPTION_PATH}`,
    redemptions,
    requests,
    publicJwk,
    async issueWebkey(issue = {}) {
      const iat = Math.floor(now().getTime() / 1000);
      const jti = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      const claims = {
        iss: issuer,
        ...(issue.aud === undefined ? {} : { aud: issue.aud }),
        jti,
        iat,
        exp: iat + (issue.expiresIn ?? WEBKEY_LIFETIME.default),
        scope: issue.scope ?? ['profile'],
        purpose: issue.purpose ?? 'Checkout',
        uses: issue.uses ?? 1,
        ...issue.claims,
      } as WebkeyClaims;
      const key = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: WEBKEY_JWT_TYPE, kid, ...issue.header })
        .sign(privateKey);
      const code = formatShortCode(crypto.getRandomValues(new Uint8Array(8)));
      state.codes.set(normalizeShortCode(code) ?? code, key);
      state.usesLeft.set(claims.jti, claims.uses);
      return { key, code, jti: claims.jti, claims };
    },
    revoke(jti) {
      state.revoked.add(jti);
    },
    script(next) {
      script = next;
    },
    setDiscovery(overrides) {
      discoveryOverrides = overrides;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

async function record(request: IncomingMessage): Promise<RecordedRedemption> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Recorded as an empty body; the default behaviour answers invalid_request.
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers[name] = value;
  }
  return { headers, idempotencyKey: headers['idempotency-key'], body };
}

function send(response: ServerResponse, answer: ScriptedAnswer, requestId: string): void {
  if ('hangUp' in answer) {
    response.socket?.destroy();
    return;
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-request-id': requestId,
    ...answer.headers,
  };
  let body = answer.body;
  if (headers['content-type'] === PROBLEM_MEDIA_TYPE && isObject(body) && !('requestId' in body)) {
    body = { ...body, requestId };
  }
  response.writeHead(answer.status, headers);
  response.end(
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object';
}
