import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_ASSERTION_TYPE, type IssuedWebkey, WEBKEY_JWT_TYPE } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.ts';
import { systemRandom } from '../deps.ts';
import {
  createTestStorage,
  startTestVault,
  type TestStorage,
  type TestVault,
  testClock,
} from '../testing/test-vault.ts';
import { rotateSigningKey } from './signing-keys.ts';

describe('signing key rotation', () => {
  // Starts at the real time: the test vendor signs its assertions with the real clock.
  const clock = testClock(Date.now());
  let vault: TestVault;
  let vendor: TestVendor;
  let customer: VaultCustomer;

  beforeAll(async () => {
    vault = await startTestVault('sqlite', { clock, config: { devMode: true } });
    vendor = await TestVendor.start('Rotation Shop');
    customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Key St'], locality: 'Rotterdam', country: 'NL' },
      201,
    );
  });
  afterAll(async () => {
    await vendor.stop();
    await vault.dispose();
  });

  const issue = (lifetimeSeconds = 24 * 3600) =>
    customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Rotation', lifetimeSeconds },
      201,
    );
  const kidOf = (jws: string) => decodeProtectedHeader(jws).kid;

  it('signs with the new key, keeps the old one verifying through its grace, then drops it', async () => {
    const before = await issue();
    const oldKid = kidOf(before.key);
    const { kid, retired } = await rotateSigningKey(
      vault.ctx.db,
      vault.ctx.keyring,
      systemRandom,
      clock().getTime(),
      25 * 3600 * 1000,
    );
    expect(retired).toEqual([oldKid]);
    await vault.ctx.signer.reload();

    const jwks = await (await fetch(`${vault.url}/.well-known/jwks.json`)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([oldKid, kid].sort());
    const after = await issue();
    expect(kidOf(after.key)).toBe(kid);
    expect(decodeProtectedHeader(after.key).typ).toBe(WEBKEY_JWT_TYPE);

    // A key handed out before the rotation still redeems during the grace period.
    expect((await vendor.redeem(vault.url, { key: before.key })).status).toBe(200);

    // After the grace period the old key is gone from the JWKS; its keys are refused.
    const late = await issue(60);
    clock.advance(25 * 3600 * 1000 + 1000);
    await vault.ctx.signer.reload();
    const later = await (await fetch(`${vault.url}/.well-known/jwks.json`)).json();
    expect(later.keys.map((k: { kid: string }) => k.kid)).toEqual([kid]);
    expect(kidOf(late.key)).toBe(kid);
  });
});

describe('a signing key rotated in by another instance', () => {
  // Two vaults on one database behind one public URL; one rotates, the other has not looked yet.
  const publicUrl = 'http://localhost:7998';
  const clock = testClock(Date.now());
  let storage: TestStorage;
  let rotating: TestVault;
  let other: TestVault;
  let vendor: TestVendor;
  let customer: VaultCustomer;

  beforeAll(async () => {
    storage = await createTestStorage('sqlite');
    const config = { devMode: true, publicUrl };
    rotating = await startTestVault('sqlite', { storage, clock, config });
    other = await startTestVault('sqlite', { storage, clock, config });
    vendor = await TestVendor.start('Two Instance Shop');
    customer = new VaultCustomer(`http://127.0.0.1:${rotating.port}`, { origin: publicUrl });
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['2 Key St'], locality: 'Rotterdam', country: 'NL' },
      201,
    );
  });
  afterAll(async () => {
    await vendor.stop();
    await rotating.close();
    await other.close();
    await storage.dispose();
  });

  async function redeemAtOther(key: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${other.port}/vendor/v1/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        key,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await vendor.assertion(publicUrl),
      }),
    });
    return response.status;
  }

  it('recognises its keys once it has looked again, at most once a second', async () => {
    await rotateSigningKey(rotating.ctx.db, rotating.ctx.keyring, systemRandom, clock().getTime());
    await rotating.ctx.signer.reload();
    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Rotated elsewhere', uses: 2 },
      201,
    );
    // The other instance read its keys less than a second ago (by its clock): it does not look
    // again, and refuses the key it cannot place.
    expect(await redeemAtOther(issued.key)).toBe(403);
    clock.advance(1500);
    expect(await redeemAtOther(issued.key)).toBe(200);
  });
});

describe('CLI: keys rotate-signing and audit verify', () => {
  let vault: TestVault;
  let output: string[];
  let dir: string;

  beforeEach(() => {
    output = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      output.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      output.push(String(chunk));
      return true;
    });
    dir = mkdtempSync(join(tmpdir(), 'webkey-cli-'));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a grace period shorter than a web key can live, with the 30 s switch-over', async () => {
    for (const hours of ['1', '24']) {
      expect(
        await main(['keys', 'rotate-signing', '--grace-hours', hours], { WEBKEY_DATA_DIR: dir }),
      ).toBe(2);
    }
    expect(output.join('')).toContain('at least 25');
  });

  it('refuses key commands on a data dir without a vault, creating nothing there', async () => {
    for (const command of [
      ['keys', 'rotate-signing'],
      ['keys', 'rotate-master'],
    ]) {
      expect(await main(command, { WEBKEY_DATA_DIR: dir })).toBe(1);
    }
    expect(output.join('')).toContain('no vault database at');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rotates the signing key of a stopped vault; the restarted vault signs with the new key', async () => {
    vault = await startTestVault('sqlite');
    const first = (await vault.ctx.signer.jwks()).keys[0]?.kid;
    await vault.close();
    const env = { WEBKEY_DATA_DIR: vault.storage.dataDir };
    expect(await main(['keys', 'rotate-signing'], env)).toBe(0);
    expect(output.join('')).toMatch(new RegExp(`signing with sig_\\S+; ${first} verify until`));
    const restarted = await startTestVault('sqlite', { storage: vault.storage });
    try {
      const kids = (await restarted.ctx.signer.jwks()).keys.map((k) => k.kid);
      expect(kids).toHaveLength(2);
      expect(kids).toContain(first);
    } finally {
      await restarted.dispose();
    }
  });

  it('verifies an exported log, and names the first bad entry of a tampered one', async () => {
    vault = await startTestVault('sqlite');
    try {
      const ada = new VaultCustomer(vault.url);
      await ada.signUp();
      for (const city of ['Oslo', 'Bergen', 'Tromsø']) {
        await ada.writeRecord('address.home', {
          lines: ['1 Fjord Road'],
          locality: city,
          country: 'NO',
        });
      }
      const exported = await ada.expect<{
        entries: { seq: number; id: string; reason: string | null }[];
      }>('GET', '/api/v1/audit/export');
      const file = join(dir, 'audit.json');
      writeFileSync(file, JSON.stringify(exported));
      const jwksFile = join(dir, 'jwks.json');
      writeFileSync(
        jwksFile,
        JSON.stringify(await (await fetch(`${vault.url}/.well-known/jwks.json`)).json()),
      );

      expect(await main(['audit', 'verify', file, '--jwks', jwksFile], {})).toBe(0);
      expect(output.join('')).toContain(`ok: ${exported.entries.length} entries verified`);

      output.length = 0;
      const tampered = structuredClone(exported);
      tampered.entries[2]!.reason = 'created';
      writeFileSync(file, JSON.stringify(tampered));
      expect(await main(['audit', 'verify', file], {})).toBe(1);
      expect(output.join('')).toContain(
        `FAILED at entry 3 (${exported.entries[2]!.id}): its content was altered`,
      );

      output.length = 0;
      writeFileSync(file, 'not json');
      expect(await main(['audit', 'verify', file], {})).toBe(1);
      expect(output.join('')).toContain('cannot read');
    } finally {
      await vault.dispose();
    }
  });
});
