import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type AuditExport, verifyAuditExport } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, type TestVault } from '../testing/test-vault.ts';
import { canonicalJson, sha256Hex, verifyExport } from './assets/verify-log.js';
import { UI_CSP } from './ui-headers.ts';

const ASSETS_DIR = join(import.meta.dirname, 'assets');
/** The app's own files, as the vault serves them (type declarations are for tests only). */
const OWN_ASSETS = readdirSync(ASSETS_DIR).filter(
  (name) => /\.(js|css|svg)$/.test(name) && !name.endsWith('.d.ts'),
);
const CONTENT_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
/** Hosts a page could quietly pull code, styles or fonts from. */
const THIRD_PARTY = /cdn|googleapis|gstatic|unpkg|jsdelivr|cloudflare|fontawesome|typekit/i;

function typeOf(path: string): string {
  return CONTENT_TYPES[path.split('.').pop() ?? '']!;
}

function flipSignatureByte(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[10]! ^= 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

describe('the customer web app', () => {
  let vault: TestVault;

  beforeAll(async () => {
    // Development mode lets the test vendor serve its metadata from 127.0.0.1.
    vault = await startTestVault('sqlite', { config: { devMode: true } });
  });
  afterAll(async () => {
    await vault?.dispose();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, vault.url), { headers });

  describe('the HTML shell', () => {
    let html = '';
    let response: Response;

    beforeAll(async () => {
      response = await get('/');
      html = await response.text();
    });

    it('is served at / with the strict policy, framing refused', () => {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(UI_CSP).toBe(response.headers.get('content-security-policy'));
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-cache');
    });

    it('has no inline script, style or event handler (the policy would block them anyway)', () => {
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attributes, body] of scripts) {
        expect(attributes).toMatch(/\bsrc="/);
        expect(body!.trim()).toBe('');
      }
      expect(html).not.toMatch(/\sstyle\s*=/i);
      expect(html).not.toMatch(/<style\b/i);
      expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    });

    it('names only same-origin files, each served with its type and the same policy', async () => {
      const references = [
        ...html.matchAll(/<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"/gi),
      ].map((match) => match[1]!);
      expect(references).toEqual(
        expect.arrayContaining([
          '/assets/app.js',
          '/assets/app.css',
          '/assets/simplewebauthn-browser.js',
        ]),
      );
      for (const reference of references) {
        const url = new URL(reference, vault.url);
        expect(url.origin, reference).toBe(new URL(vault.url).origin);
        const asset = await get(url.pathname);
        expect(asset.status, reference).toBe(200);
        expect(asset.headers.get('content-type'), reference).toBe(typeOf(url.pathname));
        expect(asset.headers.get('content-security-policy')).toBe(UI_CSP);
        expect(asset.headers.get('x-frame-options')).toBe('DENY');
        expect(asset.headers.get('cache-control')).toBe('no-cache');
        await asset.arrayBuffer();
      }
    });

    it('is the only page: client routes are hash fragments, never server paths', async () => {
      expectProblem(await answer('/details'), 404, 'not_found');
    });
  });

  async function answer(path: string) {
    const response = await get(path);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: JSON.parse(text) };
  }

  it('serves every asset of the app, and browsers revalidate them with their ETag', async () => {
    expect(OWN_ASSETS).toEqual(expect.arrayContaining(['app.js', 'app.css', 'verify-log.js']));
    for (const name of OWN_ASSETS) {
      const response = await get(`/assets/${name}`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type'), name).toBe(typeOf(name));
      await response.arrayBuffer();
      const etag = response.headers.get('etag')!;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      const again = await get(`/assets/${name}`, { 'if-none-match': etag });
      expect(again.status, name).toBe(304);
      expect(again.headers.get('content-security-policy')).toBe(UI_CSP);
    }
  });

  it('serves the passkey library from the installed @simplewebauthn/browser', async () => {
    const response = await get('/assets/simplewebauthn-browser.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('SimpleWebAuthnBrowser');
    expect(text).toContain('startRegistration');
    expect(text).toContain('startAuthentication');
  });

  it('loads nothing from another host: no CDN, no web font, only relative module imports', async () => {
    const html = await (await get('/')).text();
    expect(html).not.toMatch(THIRD_PARTY);
    expect(html).not.toMatch(/https?:\/\//);
    for (const name of [...OWN_ASSETS, 'simplewebauthn-browser.js']) {
      const text = await (await get(`/assets/${name}`)).text();
      expect(text, name).not.toMatch(THIRD_PARTY);
      if (name.endsWith('.css')) expect(text).not.toMatch(/url\(|@import/);
      if (name.endsWith('.js') && name !== 'simplewebauthn-browser.js') {
        // Every import is a sibling module; no URL literal at all (the one in icon.svg is
        // the SVG namespace name, not a fetch).
        for (const [, specifier] of text.matchAll(/(?:from|import\()\s*'([^']+)'/g))
          expect(specifier, name).toMatch(/^\.\/[a-z-]+\.js$/);
        expect(text, name).not.toMatch(/https?:\/\//);
      }
    }
  });

  it('refuses unknown assets and type declarations with problem+json 404', async () => {
    for (const path of [
      '/assets/nope.js',
      '/assets/verify-log.d.ts',
      '/assets/%2e%2e%2fui.routes.ts',
    ]) {
      const refused = await answer(path);
      expectProblem(refused, 404, 'not_found');
      expect(refused.headers.get('content-security-policy')).toBe(UI_CSP);
    }
  });

  describe('verify-log.js, the in-browser audit verifier', () => {
    let vendor: TestVendor;
    let exported: AuditExport;
    let jwks: { keys: unknown[] };
    let webkey: string;

    beforeAll(async () => {
      vendor = await TestVendor.start('Acme Optics');
      const ada = new VaultCustomer(vault.url);
      await ada.signUp();
      await ada.expect(
        'PUT',
        '/api/v1/records/address.home',
        {
          lines: ['1 Main Street'],
          locality: 'Springfield',
          country: 'US',
        },
        201,
      );
      const issued = await ada.expect<{ key: string }>(
        'POST',
        '/api/v1/webkeys',
        { scope: ['address.home', 'profile.age_over_21'], purpose: 'Café "counter" visit ✓' },
        201,
      );
      webkey = issued.key;
      expect((await vendor.redeem(vault.url, { key: webkey })).status).toBe(200);
      expect((await vendor.redeem(vault.url, { key: webkey })).status).toBe(403);
      exported = await ada.expect<AuditExport>('GET', '/api/v1/audit/export');
      jwks = await (await get('/.well-known/jwks.json')).json();
    });
    afterAll(async () => {
      await vendor?.stop();
    });

    const copy = (): AuditExport => structuredClone(exported);

    it('writes RFC 8785 canonical JSON and hashes it as protocol section 13.3 says', async () => {
      // Test vector: protocol.md section 13.3, the key_redeemed entry of the worked example.
      const vector =
        '{"at":"2026-11-23T17:54:52.250Z","event":"key_redeemed","id":"aud_Gwh8ZstHJTszcIFQ_GG15Q","ip":null,"keyId":"wk_WUqLR4OdVEJa2HACatqGJg","outcome":"success","paths":["address.home","profile.age_over_21"],"prevHash":"cd555ffce029c8b26e876ba0be89c79d74a3f092b8fef9acc6b0b4048f0aaceb","purpose":"Glasses order","reason":null,"seq":5,"userAgent":"node","vendor":{"id":"http://127.0.0.1:40021/webkey-vendor.json","name":"Acme Optics"}}';
      const shuffled = Object.fromEntries(Object.entries(JSON.parse(vector)).reverse());
      expect(canonicalJson(shuffled)).toBe(vector);
      expect(await sha256Hex(vector)).toBe(
        '83a6991d9d70d3d6c4b1d8e4c75e3329123e55b134f2a3f5458221fd1a6cb0b4',
      );
      // RFC 8785 section 3.2.3: names sorted by UTF-16 code units; control characters escaped.
      expect(canonicalJson({ b: 1, B: 2, '\u00e9': 3, a: ['\n', '\u0001', '✓'] })).toBe(
        '{"B":2,"a":["\\n","\\u0001","✓"],"b":1,"é":3}',
      );
    });

    it('verifies a real export, agreeing with @webkey/protocol', async () => {
      expect(exported.entries.map((entry) => entry.event)).toEqual([
        'signed_up',
        'record_changed',
        'key_issued',
        'key_redeemed',
        'key_refused',
      ]);
      const result = await verifyExport(exported, jwks, vault.url);
      expect(result).toEqual({
        ok: true,
        entries: 5,
        head: exported.entries[4]!.hash,
      });
      expect((await verifyAuditExport(exported, { jwks: jwks as never })).ok).toBe(true);
    });

    it('names the first altered entry', async () => {
      const tampered = copy();
      tampered.entries[3]!.vendor = { id: vendor.id, name: 'Someone Else' };
      const result = await verifyExport(tampered, jwks);
      expect(result).toMatchObject({
        ok: false,
        firstBad: { index: 3, seq: 4, reason: 'its content was altered' },
      });
    });

    it('notices a deleted, a reordered and a truncated log', async () => {
      const deleted = copy();
      deleted.entries.splice(2, 1);
      expect(await verifyExport(deleted, jwks)).toMatchObject({
        ok: false,
        firstBad: { index: 2, seq: 4, reason: 'entries 3 to 3 are missing' },
      });

      const reordered = copy();
      [reordered.entries[1], reordered.entries[2]] = [reordered.entries[2]!, reordered.entries[1]!];
      expect(await verifyExport(reordered, jwks)).toMatchObject({
        ok: false,
        firstBad: { index: 1 },
      });

      const truncated = copy();
      truncated.entries.pop();
      expect(await verifyExport(truncated, jwks)).toMatchObject({
        ok: false,
        firstBad: { index: 4, reason: 'the log ends at entry 4 but the vault signed 5' },
      });
    });

    it('notices a rewritten chain: the rehashed head is not the one the vault signed', async () => {
      const rewritten = copy();
      rewritten.entries[4]!.reason = 'expired';
      const { hash: _hash, ...rest } = rewritten.entries[4]!;
      rewritten.entries[4]!.hash = await sha256Hex(canonicalJson(rest));
      expect(await verifyExport(rewritten, jwks)).toMatchObject({
        ok: false,
        firstBad: { index: 4, reason: 'the last entry is not the one the vault signed' },
      });
    });

    it('refuses a checkpoint that is forged, signed by another key, of another type or issuer', async () => {
      const forged = copy();
      forged.checkpoint = flipSignatureByte(forged.checkpoint);
      expect(await verifyExport(forged, jwks)).toMatchObject({
        ok: false,
        firstBad: { reason: 'the checkpoint signature does not verify' },
      });

      expect(await verifyExport(copy(), { keys: [] })).toMatchObject({
        ok: false,
        firstBad: { reason: 'the checkpoint was signed with a key the vault does not publish' },
      });

      // A web key is signed by the same vault key, but it is not a checkpoint (typ pinned).
      const swapped = copy();
      swapped.checkpoint = webkey;
      expect(await verifyExport(swapped, jwks)).toMatchObject({
        ok: false,
        firstBad: { reason: 'the checkpoint has the wrong type' },
      });

      expect(await verifyExport(copy(), jwks, 'https://another-vault.example')).toMatchObject({
        ok: false,
        firstBad: { reason: 'the export comes from another vault' },
      });

      expect(await verifyExport({ format: 'something-else' }, jwks)).toMatchObject({ ok: false });
    });
  });
});
