import { type IssuedWebkey, vendorMetadataSchema } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { startTestVault, type TestVault, testClock } from '@webkey/vault/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLERK_MESSAGES } from '../vendor-sdk/examples/pos/clerk-messages.ts';
import { createPosApp, POS_CSP } from '../vendor-sdk/examples/pos/pos-app.ts';
import { type RunningPos, startPos } from '../vendor-sdk/examples/pos/server.ts';
import { generateVendorKeyPair } from '../vendor-sdk/src/index.ts';

/**
 * The demo point of sale over real HTTP: a real vault in development mode, a real customer with
 * a software passkey, and the POS server redeeming through the SDK with its own key pair.
 */

interface RedeemAnswer {
  fields: Record<string, Record<string, unknown>>;
  claims: Record<string, boolean>;
  missing: string[];
  subject: string;
  auditEntryId: string;
  purpose: string;
  vault: string;
  redeemedAt: string;
  keyId: string;
}
interface RefusalAnswer {
  error: { kind: string; message: string; requestId?: string };
}

const HOME = {
  lines: ['12 Harbour Lane', 'Flat 3'],
  locality: 'Portsmouth',
  postalCode: 'PO1 2AB',
  country: 'GB',
};
const INSURANCE = {
  insurer: 'Harbour Health',
  memberId: 'HH-4471-0923',
  plan: 'Vision Plus',
  groupNumber: 'G-77',
};

describe('the demo point of sale (vendor-sdk/examples/pos)', () => {
  const clock = testClock(Date.now());
  let vault: TestVault;
  let pos: RunningPos;
  let customer: VaultCustomer;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { clock, config: { devMode: true } });
    pos = await startPos({
      port: 0,
      host: '127.0.0.1',
      name: 'Acme Optics',
      trust: { issuers: [vault.url] },
      devHttp: true,
      clock, // the shop's clock agrees with the vault's, so "expired" is recognised locally
    });
    customer = new VaultCustomer(vault.url);
    await customer.signUp('dana@example.com');
    await customer.expect(
      'PUT',
      '/api/v1/records/profile',
      { legalName: 'Dana Demo', birthDate: '1988-07-14' },
      201,
    );
    await customer.expect('PUT', '/api/v1/records/address.home', HOME, 201);
    await customer.expect('PUT', '/api/v1/records/insurance.primary', INSURANCE, 201);
  });

  afterAll(async () => {
    await pos?.stop();
    await vault?.dispose();
  });

  function issue(scope: string[], extra: Record<string, unknown> = {}): Promise<IssuedWebkey> {
    return customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope, purpose: 'New glasses', ...extra },
      201,
    );
  }

  async function redeemAtPos(
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown; headers: Headers }> {
    const response = await fetch(`${pos.url}/api/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json(), headers: response.headers };
  }

  function expectRefusal(
    answer: { status: number; body: unknown },
    kind: string,
    message: string,
  ): void {
    expect(answer.status).toBe(422);
    const { error } = answer.body as RefusalAnswer;
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(message);
  }

  it('serves its metadata document at the vendor id, with the public key only', async () => {
    expect(pos.vendorId).toBe(`${pos.url}/webkey-vendor.json`);
    expect(pos.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(pos.vendorId);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await response.text();
    const document = vendorMetadataSchema.parse(JSON.parse(text));
    expect(document.vendor_id).toBe(pos.vendorId);
    expect(document.name).toBe('Acme Optics');
    expect(document.jwks.keys).toHaveLength(1);
    expect(text).not.toMatch(/"d"\s*:/);
  });

  it('redeems a web key server-side and answers exactly the granted fields', async () => {
    const issued = await issue([
      'address.home',
      'insurance.primary',
      'profile.age_over_21',
      'contact',
    ]);
    const answer = await redeemAtPos({ input: `  ${issued.key}\n` });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const result = answer.body as RedeemAnswer;
    expect(result.fields['address.home']).toEqual(HOME);
    expect(result.fields['insurance.primary']).toEqual(INSURANCE);
    expect(result.fields.profile).toBeUndefined();
    expect(result.claims).toEqual({ 'profile.age_over_21': true });
    expect(result.missing).toEqual(['contact']);
    expect(result.subject).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.auditEntryId).toMatch(/^aud_/);
    expect(result.purpose).toBe('New glasses');
    expect(result.vault).toBe(vault.url);
    expect(result.keyId).toBe(issued.id);
    // The birth date behind the claim never reaches the counter.
    expect(JSON.stringify(result)).not.toContain('1988-07-14');
  });

  it('redeems a short code as typed, with or without naming the vault', async () => {
    const first = await issue(['profile', 'profile.age_over_18']);
    const typed = first.shortCode.toLowerCase().replaceAll('-', ' ');
    const a = await redeemAtPos({ input: typed, issuer: `${vault.url}/` });
    expect(a.status).toBe(200);
    const byCode = a.body as RedeemAnswer;
    expect(byCode.fields.profile).toEqual({ legalName: 'Dana Demo', birthDate: '1988-07-14' });
    expect(byCode.claims).toEqual({ 'profile.age_over_18': true });

    // One trusted vault: the code needs no vault named.
    const second = await issue(['address.home']);
    const b = await redeemAtPos({ input: second.shortCode });
    expect(b.status).toBe(200);
    expect((b.body as RedeemAnswer).fields['address.home']).toEqual(HOME);
    // The same customer, the same reference for this shop.
    expect((b.body as RedeemAnswer).subject).toBe(byCode.subject);
  });

  it('refuses a second redemption with the clear message', async () => {
    const issued = await issue(['address.home']);
    expect((await redeemAtPos({ input: issued.key })).status).toBe(200);
    expectRefusal(
      await redeemAtPos({ input: issued.key }),
      'WebkeyUsedOrRevokedError',
      'This key was already used, or the customer revoked it. Ask for a new one.',
    );
    expectRefusal(
      await redeemAtPos({ input: issued.shortCode }),
      'WebkeyUsedOrRevokedError',
      CLERK_MESSAGES.WebkeyUsedOrRevokedError,
    );
  });

  it('refuses a key the customer revoked, by key and by short code', async () => {
    const issued = await issue(['insurance.primary']);
    await customer.expect('DELETE', `/api/v1/webkeys/${issued.id}`);
    for (const input of [issued.key, issued.shortCode]) {
      const answer = await redeemAtPos({ input });
      expectRefusal(answer, 'WebkeyUsedOrRevokedError', CLERK_MESSAGES.WebkeyUsedOrRevokedError);
      expect((answer.body as RefusalAnswer).error.requestId).toMatch(/^req_/);
    }
  });

  it('explains expired keys and keys made for another shop', async () => {
    const bound = await issue(['address.home'], {
      audience: 'https://other-shop.example/webkey-vendor.json',
    });
    expectRefusal(
      await redeemAtPos({ input: bound.key }),
      'WebkeyNotForYouError',
      'This key was made for another shop.',
    );

    const shortLived = await issue(['address.home'], { lifetimeSeconds: 30 });
    clock.advance(60_000);
    expectRefusal(
      await redeemAtPos({ input: shortLived.key }),
      'WebkeyExpiredError',
      'This key has expired. Ask the customer to show a new one.',
    );
  });

  it('refuses garbage, keys from vaults the shop does not accept, and forged keys', async () => {
    expectRefusal(
      await redeemAtPos({ input: 'hello there' }),
      'WebkeyInvalidError',
      'That is not a web key or a short code.',
    );
    const untrusted = [
      { alg: 'ES256', typ: 'webkey+jwt' },
      { iss: 'https://vault.elsewhere.example', jti: 'wk_0123456789abcdef' },
    ]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
      .join('.');
    expectRefusal(
      await redeemAtPos({ input: `${untrusted}.c2ln` }),
      'UntrustedIssuerError',
      'This key comes from a vault this shop does not accept.',
    );
    const issued = await issue(['address.home']);
    const [header, payload] = issued.key.split('.');
    expectRefusal(
      await redeemAtPos({ input: `${header}.${payload}.AAAA` }),
      'WebkeyInvalidError',
      CLERK_MESSAGES.notGenuine,
    );
    expectRefusal(
      await redeemAtPos({ input: issued.shortCode, issuer: 'https://vault.elsewhere.example' }),
      'UntrustedIssuerError',
      CLERK_MESSAGES.UntrustedIssuerError,
    );
  });

  it('says so when the vault cannot be reached', async () => {
    const keys = await generateVendorKeyPair();
    const offline = createPosApp({
      vendorId: 'http://127.0.0.1:9/webkey-vendor.json',
      name: 'Offline Optics',
      ...keys,
      trust: { issuers: ['http://127.0.0.1:9'] },
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
      retry: { sleep: async () => {} },
    });
    const response = await offline.request('/api/redeem', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '7KQ2-M9XD-4TRA' }),
    });
    expectRefusal(
      { status: response.status, body: await response.json() },
      'VaultUnreachableError',
      "The customer's vault cannot be reached right now. Try again in a moment.",
    );
  });

  it('guards the endpoint: JSON only, same origin only, an input required', async () => {
    expect((await redeemAtPos({ input: '' })).status).toBe(400);
    expect((await redeemAtPos('not json')).status).toBe(400);
    expect((await redeemAtPos({ input: 'x' }, { origin: 'https://evil.example' })).status).toBe(
      403,
    );
    const form = await fetch(`${pos.url}/api/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"input":"7KQ2-M9XD-4TRA"}',
    });
    expect(form.status).toBe(415);
    expect((await fetch(`${pos.url}/api/redeem`)).status).toBe(405);
  });

  it('serves the counter page with a strict CSP, no inline code, and every data-testid', async () => {
    const response = await fetch(`${pos.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = response.headers.get('content-security-policy');
    expect(csp).toBe(POS_CSP);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await response.text();
    expect(html).toContain('<title>Acme Optics — counter</title>');
    for (const id of [
      'key-input',
      'vault-input',
      'redeem',
      'scan',
      'refusal',
      'shared-list',
      'missing-list',
      'intake-name',
      'intake-birthDate',
      'intake-address-line1',
      'intake-address-line2',
      'intake-address-locality',
      'intake-address-postalCode',
      'intake-address-country',
      'intake-insurer',
      'intake-memberId',
      'intake-plan',
      'intake-groupNumber',
      'intake-email',
      'intake-phone',
      'intake-over21',
      'intake-over18',
      'intake-subject',
    ]) {
      expect(html, id).toContain(`data-testid="${id}"`);
    }
    // Every intake field is a labelled <input>.
    for (const [, id] of html.matchAll(/<input id="(intake-[\w-]+)"/g)) {
      expect(html, id).toContain(`<label for="${id}">`);
    }
    expect(html).toMatch(/data-testid="refusal" role="alert"/);
    expect(html).toContain(`value="${vault.url}"`);
    // Nothing inline: no <script> body, no style attribute or element, no inline handlers.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);

    const js = await fetch(`${pos.url}/assets/pos.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain("'BarcodeDetector' in window");
    const css = await fetch(`${pos.url}/assets/pos.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect((await fetch(`${pos.url}/nothing-here`)).status).toBe(404);
  });

  it('tells the clerk to scan the QR code when the vault stops taking short codes', async () => {
    // A vault of its own: the failure budget is per address too, and would hit the other tests.
    const guarded = await startTestVault('sqlite', { config: { devMode: true } });
    const counter = await startPos({
      port: 0,
      trust: { issuers: [guarded.url] },
      devHttp: true,
      log: () => {},
    });
    try {
      const symbols = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
      let last: { status: number; body: unknown } | undefined;
      for (let attempt = 0; attempt < 30; attempt += 1) {
        const code = Array.from({ length: 12 }, () => symbols[Math.floor(Math.random() * 32)]);
        const response = await fetch(`${counter.url}/api/redeem`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: code.join('') }),
        });
        last = { status: response.status, body: await response.json() };
        if ((last.body as RefusalAnswer).error.kind !== 'WebkeyUsedOrRevokedError') break;
      }
      expectRefusal(last!, 'RateLimitedError', CLERK_MESSAGES.tooManyShortCodes);
    } finally {
      await counter.stop();
      await guarded.dispose();
    }
  });

  it('escapes the shop name and lists every trusted vault for short codes', async () => {
    const keys = await generateVendorKeyPair();
    const app = createPosApp({
      vendorId: 'https://shop.example/webkey-vendor.json',
      name: 'Tom & <Jerry>',
      ...keys,
      trust: { issuers: ['https://north.example', 'https://south.example'] },
    });
    const html = await (await app.request('/')).text();
    expect(html).toContain('<title>Tom &amp; &lt;Jerry&gt; — counter</title>');
    expect(html).toContain('<option value="https://north.example"></option>');
    expect(html).toContain('<option value="https://south.example"></option>');
    expect(html).toContain('value="https://north.example"');
    // Two vaults: a short code needs the clerk to pick one.
    const response = await app.request('/api/redeem', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '7KQ2-M9XD-4TRA', issuer: '' }),
    });
    expectRefusal(
      { status: response.status, body: await response.json() },
      'InvalidRequestError',
      CLERK_MESSAGES.issuerRequired,
    );
  });
});
