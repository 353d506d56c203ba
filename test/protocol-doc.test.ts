import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault } from '@webkey/vault/testing';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A vendor client written only from docs/protocol.md, with plain fetch and jose: no
 * @webkey/vendor-sdk, no TestVendor. Section numbers refer to that document. The customer side
 * (sign-up, records, issuing keys, exporting the log) uses VaultCustomer from @webkey/testkit.
 */

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const GENESIS = '0'.repeat(64);

type Json = Record<string, unknown>;

interface VaultMetadata {
  issuer: string;
  jwks_uri: string;
  redemption_endpoint: string;
}

interface WebkeyClaims extends JWTPayload {
  iss: string;
  aud?: string;
  jti: string;
  iat: number;
  exp: number;
  scope: string[];
  purpose: string;
  uses: number;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

/** Section 6: the vendor's metadata document, served by node:http on 127.0.0.1. */
class MetadataServer {
  private constructor(
    private readonly server: Server,
    readonly vendorId: string,
  ) {}

  static async start(document: (vendorId: string) => Json): Promise<MetadataServer> {
    let body = '';
    const server = createServer((request, response) => {
      if (request.method === 'GET' && request.url === '/webkey-vendor.json') {
        response.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'public, max-age=300',
        });
        response.end(body);
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const vendorId = `http://127.0.0.1:${port}/webkey-vendor.json`;
    body = JSON.stringify(document(vendorId));
    return new MetadataServer(server, vendorId);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The vendor client: discovery (3), keys (4), key validation (5.7), assertions (7), redemption (8). */
class DocVendor {
  private readonly jwksCache = new Map<string, { keys: JWTVerifyGetKey; fetchedAt: number }>();

  constructor(
    readonly vendorId: string,
    private readonly privateKey: CryptoKey,
    private readonly kid: string,
    private readonly trustedIssuers: ReadonlySet<string>,
  ) {}

  /** Section 3: the discovery document; its issuer must be the one asked. */
  async discover(issuer: string): Promise<VaultMetadata> {
    if (!this.trustedIssuers.has(issuer)) throw new Error(`untrusted issuer ${issuer}`);
    const response = await fetch(`${issuer}/.well-known/webkey-vault`, {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as VaultMetadata;
    if (metadata.issuer !== issuer) throw new Error('discovery names another issuer');
    return metadata;
  }

  /** Section 4: the JWKS, cached; an unknown kid makes one refetch (bypassing caches). */
  keyResolver(metadata: VaultMetadata): JWTVerifyGetKey {
    const fetchKeys = async () => {
      const response = await fetch(metadata.jwks_uri, {
        headers: { accept: 'application/json', 'cache-control': 'no-cache' },
      });
      expect(response.status).toBe(200);
      const keys = createLocalJWKSet((await response.json()) as JSONWebKeySet);
      this.jwksCache.set(metadata.issuer, { keys, fetchedAt: Date.now() });
      return keys;
    };
    return async (header, token) => {
      const cached = this.jwksCache.get(metadata.issuer);
      const keys = cached?.keys ?? (await fetchKeys());
      try {
        return await keys(header, token);
      } catch (error) {
        const mayRefetch = cached !== undefined && Date.now() - cached.fetchedAt >= 30_000;
        if (!(error instanceof errors.JWKSNoMatchingKey) || !mayRefetch) throw error;
        return (await fetchKeys())(header, token);
      }
    };
  }

  /** Section 5.7, steps 1 to 5: what must hold before a scanned key is sent. */
  async verifyKey(
    scanned: string,
    options: { ignoreExpiry?: boolean } = {},
  ): Promise<{ metadata: VaultMetadata; claims: WebkeyClaims; expired: boolean }> {
    const key = scanned.trim();
    if (!COMPACT_JWS.test(key) || key.length > 4096) throw new Error('not a web key');
    const issuer = decodeJwt(key).iss;
    if (typeof issuer !== 'string') throw new Error('no iss');
    const metadata = await this.discover(issuer);
    let payload: JWTPayload;
    let expired = false;
    try {
      ({ payload } = await jwtVerify(key, this.keyResolver(metadata), {
        algorithms: ['ES256'],
        typ: 'webkey+jwt',
        issuer,
        requiredClaims: ['jti', 'iat', 'exp'],
      }));
    } catch (error) {
      if (!(error instanceof errors.JWTExpired) || error.claim !== 'exp') throw error;
      payload = error.payload;
      expired = !options.ignoreExpiry;
    }
    const claims = checkClaims(payload);
    return { metadata, claims, expired };
  }

  /** Section 7: a fresh client assertion for every HTTP request. */
  assertion(audience: string): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: this.vendorId,
      sub: this.vendorId,
      aud: audience,
      jti: randomBytes(24).toString('base64url'),
      iat,
      exp: iat + 60,
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'client-authentication+jwt', kid: this.kid })
      .sign(this.privateKey);
  }

  /** Section 8.1: one redemption attempt. */
  async redeem(
    metadata: VaultMetadata,
    presented: { key: string } | { code: string },
    options: { idempotencyKey?: string; assertion?: string } = {},
  ): Promise<Answer & { sentBody: string }> {
    const sentBody = JSON.stringify({
      ...presented,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: options.assertion ?? (await this.assertion(metadata.issuer)),
    });
    const response = await fetch(metadata.redemption_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
      },
      body: sentBody,
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Json,
      sentBody,
    };
  }
}

/** Section 5.1: the claims' types and ranges. */
function checkClaims(payload: JWTPayload): WebkeyClaims {
  const c = payload as Partial<WebkeyClaims>;
  const ok =
    typeof c.iss === 'string' &&
    (c.aud === undefined || typeof c.aud === 'string') &&
    typeof c.jti === 'string' &&
    c.jti.length >= 16 &&
    c.jti.length <= 64 &&
    Number.isInteger(c.iat) &&
    Number.isInteger(c.exp) &&
    Array.isArray(c.scope) &&
    c.scope.length >= 1 &&
    c.scope.length <= 32 &&
    c.scope.every((item) => typeof item === 'string') &&
    typeof c.purpose === 'string' &&
    c.purpose.length <= 200 &&
    Number.isInteger(c.uses) &&
    c.uses! >= 1 &&
    c.uses! <= 100;
  if (!ok) throw new Error(`malformed web key claims: ${JSON.stringify(payload)}`);
  return c as WebkeyClaims;
}

/** Section 8.4: every member of a success answer, and the vendor's defence-in-depth checks. */
function checkAnswer(
  answer: Answer,
  expected: { issuer: string; key?: string; claims: WebkeyClaims; vendorId: string },
): void {
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(answer.headers.get('cache-control')).toBe('no-store');
  expect(answer.headers.get('x-request-id')).toMatch(/^req_/);
  const body = answer.body;
  expect(body).toEqual({
    redemptionId: expect.stringMatching(/^red_/),
    keyId: expected.claims.jti,
    issuer: expected.issuer,
    subject: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    redeemedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    purpose: expected.claims.purpose,
    scope: expected.claims.scope,
    usesLeft: expect.any(Number),
    auditEntryId: expect.stringMatching(/^aud_/),
    fields: expect.any(Object),
    claims: expect.any(Object),
    missing: expect.any(Array),
    key: expect.any(String),
  });
  if (expected.key !== undefined) expect(body.key).toBe(expected.key);
  if (expected.claims.aud !== undefined) expect(expected.claims.aud).toBe(expected.vendorId);
  const fields = body.fields as Record<string, { category: unknown; versionId: unknown }>;
  const claims = body.claims as Record<string, unknown>;
  const missing = body.missing as string[];
  for (const field of Object.values(fields)) {
    expect(field).toEqual({
      category: expect.any(String),
      versionId: expect.any(String),
      value: expect.any(Object),
    });
  }
  for (const value of Object.values(claims)) expect(typeof value).toBe('boolean');
  // Every scope item in exactly one of fields, claims, missing; nothing outside the scope.
  const granted = [...Object.keys(fields), ...Object.keys(claims), ...missing];
  expect([...granted].sort()).toEqual([...expected.claims.scope].sort());
}

/** Section 12: a problem document. */
function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toBe('application/problem+json');
  const requestId = answer.headers.get('x-request-id');
  expect(answer.body).toMatchObject({
    type: `urn:webkey:problem:${code}`,
    status,
    code,
    title: expect.any(String),
    requestId,
  });
}

/** Section 13.3: RFC 8785 canonical JSON for the values an audit entry holds. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError('audit entries hold integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const object = value as Record<string, unknown>;
    // Array.prototype.sort compares strings by UTF-16 code units, as RFC 8785 requires.
    const names = Object.keys(object).sort();
    return `{${names.map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name])}`).join(',')}}`;
  }
  throw new TypeError(`no canonical form for ${typeof value}`);
}

function entryHash(entry: Json): string {
  const { hash: _hash, ...body } = entry;
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

type Verification = { ok: true; entries: number } | { ok: false; index: number; reason: string };

/** Section 13.5: the verification algorithm, step by step. */
async function verifyExport(log: Json, liveJwks: JSONWebKeySet): Promise<Verification> {
  // 1. format and shapes.
  if (log.format !== 'webkey-audit-v1' || !Array.isArray(log.entries)) {
    return { ok: false, index: -1, reason: 'not an export' };
  }
  const entries = log.entries as Json[];
  // 2. the checkpoint.
  let checkpoint: { seq: number; head: string };
  try {
    const { payload } = await jwtVerify(String(log.checkpoint), createLocalJWKSet(liveJwks), {
      algorithms: ['ES256'],
      typ: 'webkey-checkpoint+jwt',
      issuer: String(log.issuer),
      requiredClaims: ['sub', 'seq', 'head', 'iat'],
    });
    if (typeof payload.seq !== 'number' || typeof payload.head !== 'string') {
      throw new Error('malformed checkpoint');
    }
    checkpoint = { seq: payload.seq, head: payload.head };
  } catch (error) {
    return { ok: false, index: entries.length, reason: `checkpoint: ${(error as Error).message}` };
  }
  // 3. the chain.
  let previous = GENESIS;
  for (const [index, entry] of entries.entries()) {
    if (entry.seq !== index + 1) return { ok: false, index, reason: 'missing or out of order' };
    if (entry.prevHash !== previous) return { ok: false, index, reason: 'does not link' };
    if (entry.hash !== entryHash(entry)) return { ok: false, index, reason: 'altered' };
    previous = entry.hash as string;
  }
  // 4. and 5. the head the vault signed.
  if (entries.length !== checkpoint.seq) {
    return { ok: false, index: Math.min(entries.length, checkpoint.seq), reason: 'length' };
  }
  if (previous !== checkpoint.head) return { ok: false, index: entries.length - 1, reason: 'head' };
  return { ok: true, entries: entries.length };
}

describe('docs/protocol.md: a vendor client written from the document alone', () => {
  let vault: TestVault;
  let metadataServer: MetadataServer;
  let vendor: DocVendor;
  let customer: VaultCustomer;

  async function issue(body: Json): Promise<{ id: string; key: string; shortCode: string }> {
    return customer.expect('POST', '/api/v1/webkeys', { purpose: 'Glasses order', ...body }, 201);
  }

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { config: { devMode: true } });
    // Section 6: an ES256 key with its thumbprint as kid, published in the metadata document.
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk: JWK = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    metadataServer = await MetadataServer.start((vendorId) => ({
      vendor_id: vendorId,
      name: 'Doc Optics',
      jwks: { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] },
    }));
    vendor = new DocVendor(
      metadataServer.vendorId,
      privateKey as CryptoKey,
      kid,
      new Set([vault.url]),
    );

    customer = new VaultCustomer(vault.url);
    await customer.signUp('Doc customer');
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['12 Harbour Street'], locality: 'Portsmouth', country: 'GB' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/profile',
      { legalName: 'Dana Example', birthDate: '1990-04-01' },
      201,
    );
  });

  afterAll(async () => {
    await metadataServer?.stop();
    await vault?.dispose();
  });

  it('discovers the vault (section 3) and publishes ES256 keys (section 4)', async () => {
    const metadata = await vendor.discover(vault.url);
    expect(metadata).toMatchObject({
      issuer: vault.url,
      jwks_uri: `${vault.url}/.well-known/jwks.json`,
      redemption_endpoint: `${vault.url}/vendor/v1/redeem`,
      webkey_signing_alg_values_supported: ['ES256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
      short_code_symbols: 12,
      webkey_max_lifetime_seconds: 86_400,
    });
    const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: JWK[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.kid).toMatch(/^sig_/);
      expect(key).not.toHaveProperty('d');
    }
  });

  it('redeems a verified key, and a retry with the same Idempotency-Key gets the same answer (sections 5, 7, 8, 9)', async () => {
    const issued = await issue({
      scope: ['address.home', 'profile.age_over_21', 'insurance.primary'],
    });
    // Section 5.5: the QR code's text is the key itself.
    const { metadata, claims, expired } = await vendor.verifyKey(`  ${issued.key}\n`);
    expect(expired).toBe(false);
    expect(decodeProtectedHeader(issued.key)).toMatchObject({ alg: 'ES256', typ: 'webkey+jwt' });
    expect(claims).toMatchObject({ iss: vault.url, jti: issued.id, uses: 1 });
    expect(claims.aud).toBeUndefined();

    const idempotencyKey = randomBytes(16).toString('base64url');
    const first = await vendor.redeem(metadata, { key: issued.key }, { idempotencyKey });
    checkAnswer(first, { issuer: vault.url, key: issued.key, claims, vendorId: vendor.vendorId });
    expect(first.body).toMatchObject({
      usesLeft: 0,
      fields: {
        'address.home': {
          category: 'address',
          value: { lines: ['12 Harbour Street'], locality: 'Portsmouth', country: 'GB' },
        },
      },
      claims: { 'profile.age_over_21': true },
      missing: ['insurance.primary'],
    });
    expect(first.body.fields).not.toHaveProperty('profile');

    // Section 9: same Idempotency-Key, fresh assertion: the identical answer.
    const retry = await vendor.redeem(metadata, { key: issued.key }, { idempotencyKey });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));

    // Section 7: the very same request (same assertion) again is a replay.
    const replayed = JSON.parse(first.sentBody) as { client_assertion: string };
    const replay = await vendor.redeem(
      metadata,
      { key: issued.key },
      { assertion: replayed.client_assertion },
    );
    expectProblem(replay, 401, 'invalid_client');

    // Section 8.3: a used key gets the one refusal, without detail.
    const again = await vendor.redeem(metadata, { key: issued.key });
    expectProblem(again, 403, 'webkey_refused');
    expect(again.body).not.toHaveProperty('detail');
    const unknown = await vendor.redeem(metadata, { code: '0000-0000-0000' });
    expectProblem(unknown, 403, 'webkey_refused');
    const strip = ({ requestId: _r, ...rest }: Json) => rest;
    expect(strip(unknown.body)).toEqual(strip(again.body));

    // Section 9: the same Idempotency-Key with a different request.
    const other = await issue({ scope: ['address.home'] });
    const reused = await vendor.redeem(metadata, { key: other.key }, { idempotencyKey });
    expectProblem(reused, 422, 'idempotency_key_reused');

    // Section 13.1: the receipt is the customer's audit entry.
    const { entries } = await customer.expect<{ entries: Json[] }>(
      'GET',
      '/api/v1/audit?event=key_redeemed',
    );
    expect(entries).toEqual([
      expect.objectContaining({
        id: first.body.auditEntryId,
        keyId: issued.id,
        vendor: { id: vendor.vendorId, name: 'Doc Optics' },
        paths: ['address.home', 'profile.age_over_21'],
        outcome: 'success',
      }),
    ]);
  });

  it('sends a key bound to another vendor anyway, so the customer sees the refusal (section 5.7)', async () => {
    const issued = await issue({
      scope: ['address.home'],
      audience: 'https://other-shop.example/webkey-vendor.json',
    });
    const { metadata, claims } = await vendor.verifyKey(issued.key);
    expect(claims.aud).toBe('https://other-shop.example/webkey-vendor.json');
    const answer = await vendor.redeem(metadata, { key: issued.key });
    expectProblem(answer, 403, 'webkey_refused');
    const { entries } = await customer.expect<{ entries: Json[] }>(
      'GET',
      '/api/v1/audit?event=key_refused&limit=1',
    );
    expect(entries[0]).toMatchObject({
      keyId: issued.id,
      // Another vendor's key: the entry names this vendor by its id's host (section 13).
      vendor: { id: vendor.vendorId, name: new URL(vendor.vendorId).host },
      outcome: 'refused',
      reason: 'not_for_this_vendor',
    });
  });

  it('redeems a short code typed sloppily and verifies the key the vault returns (sections 5.6, 8.4)', async () => {
    const issued = await issue({ scope: ['address.home', 'profile'], uses: 2 });
    expect(issued.shortCode).toMatch(
      /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/,
    );
    const typed = issued.shortCode.toLowerCase().replaceAll('-', ' ').replaceAll('1', 'l');
    const metadata = await vendor.discover(vault.url);
    const answer = await vendor.redeem(metadata, { code: typed });
    const returned = answer.body.key as string;
    const { claims } = await vendor.verifyKey(returned, { ignoreExpiry: true });
    expect(claims.jti).toBe(issued.id);
    checkAnswer(answer, { issuer: vault.url, claims, vendorId: vendor.vendorId });
    expect(answer.body).toMatchObject({
      usesLeft: 1,
      fields: { profile: { category: 'profile', value: { legalName: 'Dana Example' } } },
      missing: [],
    });
  });

  it('gives each vendor its own stable pairwise subject (section 10)', async () => {
    const metadata = await vendor.discover(vault.url);
    const a = await vendor.redeem(metadata, { key: (await issue({ scope: ['profile'] })).key });
    const b = await vendor.redeem(metadata, { key: (await issue({ scope: ['contact'] })).key });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body.subject).toBe(a.body.subject);
    expect(b.body.missing).toEqual(['contact']);
  });

  it('verifies the customer export with the algorithm of section 13.5', async () => {
    // The test vector of section 13.3.
    const vector = {
      id: 'aud_Gwh8ZstHJTszcIFQ_GG15Q',
      seq: 5,
      at: '2026-11-23T17:54:52.250Z',
      event: 'key_redeemed',
      vendor: { id: 'http://127.0.0.1:40021/webkey-vendor.json', name: 'Acme Optics' },
      keyId: 'wk_WUqLR4OdVEJa2HACatqGJg',
      paths: ['address.home', 'profile.age_over_21'],
      purpose: 'Glasses order',
      ip: null,
      userAgent: 'node',
      outcome: 'success',
      reason: null,
      prevHash: 'cd555ffce029c8b26e876ba0be89c79d74a3f092b8fef9acc6b0b4048f0aaceb',
      hash: '83a6991d9d70d3d6c4b1d8e4c75e3329123e55b134f2a3f5458221fd1a6cb0b4',
    };
    expect(entryHash(vector)).toBe(vector.hash);

    const log = await customer.expect<Json>('GET', '/api/v1/audit/export');
    const metadata = await vendor.discover(vault.url);
    const liveJwks = (await (await fetch(metadata.jwks_uri)).json()) as JSONWebKeySet;
    expect(decodeProtectedHeader(String(log.checkpoint))).toMatchObject({
      alg: 'ES256',
      typ: 'webkey-checkpoint+jwt',
    });
    const entries = log.entries as Json[];
    expect(await verifyExport(log, liveJwks)).toEqual({ ok: true, entries: entries.length });
    expect(entries.map((entry) => entry.event)).toEqual(
      expect.arrayContaining(['signed_up', 'key_issued', 'key_redeemed', 'key_refused']),
    );
    expect(entries.filter((entry) => entry.event === 'key_refused')).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'used_up' })]),
    );

    // Edited, deleted and truncated logs are caught at the first bad entry.
    const edited = structuredClone(log);
    (edited.entries as Json[])[2]!.purpose = 'Something else';
    expect(await verifyExport(edited, liveJwks)).toMatchObject({ ok: false, index: 2 });
    const deleted = structuredClone(log);
    (deleted.entries as Json[]).splice(1, 1);
    expect(await verifyExport(deleted, liveJwks)).toMatchObject({ ok: false, index: 1 });
    const truncated = structuredClone(log);
    (truncated.entries as Json[]).pop();
    expect(await verifyExport(truncated, liveJwks)).toMatchObject({ ok: false });
  });
});
