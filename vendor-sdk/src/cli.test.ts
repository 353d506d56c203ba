import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it, onTestFinished } from 'vitest';
import { main } from './cli.ts';
import { HOME, harness } from './test-support.ts';

const BIN = fileURLToPath(new URL('../bin/webkey-pos.js', import.meta.url));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'webkey-pos-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A vault, a key file and the environment the CLI reads. */
async function setup() {
  const h = await harness({
    records: { 'address.home': HOME },
    claims: { 'profile.age_over_18': true },
  });
  const keyFile = join(await tempDir(), 'vendor-key.json');
  await writeFile(keyFile, JSON.stringify(h.vendor.privateJwk));
  const env = {
    WEBKEY_POS_CLIENT_ID: h.vendor.vendorId,
    WEBKEY_POS_KEY_FILE: keyFile,
    WEBKEY_POS_TRUSTED_ISSUERS: ` https://vault.example, ${h.vault.issuer} `,
  };
  return { ...h, env };
}

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (text: string) => {
        out.stdout += text;
      },
      stderr: (text: string) => {
        out.stderr += text;
      },
    },
  };
}

describe('webkey-pos', () => {
  it('redeems a key and prints the grant as JSON', async () => {
    const { vault, env } = await setup();
    const { key } = await vault.issueWebkey({
      scope: ['address.home', 'profile.age_over_18', 'profile'],
    });
    const { out, io } = capture();
    expect(await main(['redeem', key], env, io)).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      issuer: vault.issuer,
      subject: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      purpose: 'Checkout',
      fields: { 'address.home': HOME },
      claims: { 'profile.age_over_18': true },
      missing: ['profile'],
      usesLeft: 0,
      auditEntryId: expect.any(String),
    });
    expect(out.stderr).toBe('');
  });

  it('redeems a short code with --issuer', async () => {
    const { vault, env } = await setup();
    const { code } = await vault.issueWebkey({ scope: ['address.home'] });
    const { out, io } = capture();
    expect(await main(['redeem', code, '--issuer', vault.issuer], env, io)).toBe(0);
    expect(JSON.parse(out.stdout).fields['address.home']).toEqual(HOME);
  });

  it('prints a refusal with its class and request id, exit 1', async () => {
    const { vault, env } = await setup();
    const { key, jti } = await vault.issueWebkey();
    vault.revoke(jti);
    const { out, io } = capture();
    expect(await main(['redeem', key], env, io)).toBe(1);
    expect(out.stderr).toMatch(
      /^webkey-pos: WebkeyUsedOrRevokedError: The vault refused this web key: .* \(request id req_\w+\)\n$/,
    );
  });

  it('asks for --issuer for a short code when several vaults are trusted, exit 1', async () => {
    const { vault, env } = await setup();
    const { io, out } = capture();
    expect(await main(['redeem', (await vault.issueWebkey()).code], env, io)).toBe(1);
    expect(out.stderr).toMatch(/InvalidRequestError: A short code does not say which vault/);
  });

  it.each([
    [[]],
    [['redeem']],
    [['redeem', 'a', 'b']],
    [['refund', 'x']],
    [['redeem', 'x', '--bogus']],
  ])('exits 2 on usage errors: %j', async (argv) => {
    const { out, io } = capture();
    expect(await main(argv, {}, io)).toBe(2);
    expect(out.stderr).toMatch(/^webkey-pos: .*\n\nUsage:/);
  });

  it('names the bad variable, exit 2', async () => {
    const { env } = await setup();
    const { out, io } = capture();
    const bad = { ...env, WEBKEY_POS_TRUSTED_ISSUERS: ' , ' };
    expect(await main(['redeem', '7KQ2-M9XD-4TRA'], bad, io)).toBe(2);
    expect(out.stderr).toMatch(/^webkey-pos: WEBKEY_POS_TRUSTED_ISSUERS: /);
    const plain = { ...env, WEBKEY_POS_TRUSTED_ISSUERS: 'http://vault.example' };
    expect(await main(['redeem', '7KQ2-M9XD-4TRA'], plain, io)).toBe(2);
    expect(out.stderr).toMatch(/plain http only for localhost/);
    const missing = { ...env, WEBKEY_POS_KEY_FILE: '/nonexistent/key.json' };
    expect(await main(['redeem', '7KQ2-M9XD-4TRA'], missing, io)).toBe(2);
    expect(out.stderr).toMatch(/WEBKEY_POS_KEY_FILE: cannot read/);
  });

  it("quotes a forged key's iss differing from --issuer, escaping terminal controls and bidi overrides", async () => {
    const { env, vault, fetches } = await setup();
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: ['profile'] })
      .setProtectedHeader({ alg: 'ES256', typ: 'webkey+jwt' })
      .setIssuer('https://x\u001b]0;owned\u0007\u001b[2J\u009b31m\u202eKO TLUAV')
      .sign(privateKey);
    const { out, io } = capture();
    expect(await main(['redeem', forged, '--issuer', vault.issuer], env, io)).toBe(1);
    expect(out.stderr).toMatch(/^webkey-pos: UntrustedIssuerError: .*"https:\/\/x\\u001b\]0;owned/);
    expect(out.stderr).toMatch(/^[\x20-\x7e]*\n$/); // nothing but printable ASCII
    expect(fetches).toEqual([]);
  });

  it('escapes control and bidi characters of the customer data it prints, as the same JSON', async () => {
    const { env, vault } = await setup();
    const name = 'Ada \u009b2J\u202eLovelace';
    vault.script(async (request, actions) => {
      const answer = await actions.redeem(request);
      if (!('hangUp' in answer)) {
        const body = answer.body as { fields: Record<string, { value: { recipient: string } }> };
        body.fields['address.home']!.value.recipient = name;
      }
      return answer;
    });
    const { key } = await vault.issueWebkey({ scope: ['address.home'] });
    const { out, io } = capture();
    expect(await main(['redeem', key], env, io)).toBe(0);
    expect(out.stdout).toContain('\\u009b2J\\u202eLovelace');
    expect(JSON.parse(out.stdout).fields['address.home'].recipient).toBe(name);
  });

  it('refuses a key file that is JSON but no private key before any request, exit 2', async () => {
    const { env, vendor, fetches } = await setup();
    const { d: _secret, ...publicHalf } = vendor.privateJwk as Record<string, unknown>;
    const garbled = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'BBBB', d: 'CCCC' };
    const cases = [publicHalf, { kty: 'RSA', d: 'x' }, garbled, ['not', 'a', 'key'], null];
    for (const content of cases) {
      const file = join(await tempDir(), 'key.json');
      await writeFile(file, JSON.stringify(content));
      const { out, io } = capture();
      const status = await main(
        ['redeem', '7KQ2-M9XD-4TRA'],
        { ...env, WEBKEY_POS_KEY_FILE: file },
        io,
      );
      expect({ status, stderr: out.stderr }).toEqual({
        status: 2,
        stderr: expect.stringMatching(
          /^webkey-pos: WEBKEY_POS_KEY_FILE: .* holds no usable private key/,
        ),
      });
    }
    expect(fetches).toEqual([]);
  });

  it.each([
    'http://shop.example/webkey-vendor.json',
    'ftp://shop.example/webkey-vendor.json',
    'https://Shop.example/webkey-vendor.json',
    'https://shop.example/webkey-vendor.json#me',
    'https://user@shop.example/webkey-vendor.json',
  ])('refuses a client id a vault would refuse, exit 2: %s', async (clientId) => {
    const { env, fetches } = await setup();
    const { out, io } = capture();
    const status = await main(
      ['redeem', '7KQ2-M9XD-4TRA'],
      { ...env, WEBKEY_POS_CLIENT_ID: clientId },
      io,
    );
    expect(status).toBe(2);
    expect(out.stderr).toMatch(/^webkey-pos: WEBKEY_POS_CLIENT_ID: /);
    expect(fetches).toEqual([]);
  });

  it('never quotes a key file that is not JSON (it may be a bare secret)', async () => {
    const { env } = await setup();
    const secret = 'hGx3QmF1c2VJdElzQVNlY3JldEtleU1hdGVyaWFs';
    const file = join(await tempDir(), 'raw.key');
    await writeFile(file, secret, { mode: 0o600 });
    const { out, io } = capture();
    expect(
      await main(['redeem', '7KQ2-M9XD-4TRA'], { ...env, WEBKEY_POS_KEY_FILE: file }, io),
    ).toBe(2);
    expect(out.stderr).toMatch(
      /WEBKEY_POS_KEY_FILE: cannot read a JSON private key .* \(not JSON\)/,
    );
    expect(out.stderr).not.toContain(secret.slice(0, 6));
  });

  it('keygen writes a private key once, mode 0600, and prints the public key', async () => {
    const file = join(await tempDir(), 'key.json');
    const { out, io } = capture();
    expect(await main(['keygen', file, '--alg', 'EdDSA'], {}, io)).toBe(0);
    const privateJwk = JSON.parse(await readFile(file, 'utf8'));
    const publicJwk = JSON.parse(out.stdout);
    expect(privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', d: expect.any(String) });
    expect(publicJwk).toEqual({ ...privateJwk, d: undefined });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await main(['keygen', file], {}, io)).toBe(1);
  });

  it('runs as a bin through tsx', async () => {
    const { vault, env } = await setup();
    const { key } = await vault.issueWebkey({ scope: ['address.home'] });
    const { stdout } = await promisify(execFile)(BIN, ['redeem', key], {
      env: { ...process.env, ...env },
    });
    expect(JSON.parse(stdout).fields['address.home']).toEqual(HOME);
    const usage = await promisify(execFile)(BIN, []).catch((error: { code: number }) => error);
    expect(usage).toMatchObject({ code: 2 });
  }, 20_000);
});
