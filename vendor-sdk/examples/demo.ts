/**
 * `pnpm demo`: the whole Webkey flow in one process, over real HTTP.
 *
 * Starts a vault and a demo vendor (an optician) on 127.0.0.1, signs up a demo customer with a
 * software passkey, stores their details, issues a web key, redeems it through the vendor SDK,
 * shows a second redemption refused, and prints and verifies the customer's audit log.
 *
 *   pnpm demo [--data-dir DIR]     (default: a fresh temporary folder, left in place)
 */
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { type AuditEntry, type IssuedWebkey, verifyAuditExport } from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import { silentLogger, startVault } from '@webkey/vault';
import {
  generateVendorKeyPair,
  VendorClient,
  vendorMetadataHandler,
  WebkeyError,
} from '../src/index.ts';

function dataDirFrom(argv: string[]): string {
  const index = argv.indexOf('--data-dir');
  if (index === -1) return mkdtempSync(join(tmpdir(), 'webkey-demo-'));
  const dir = argv[index + 1];
  if (!dir) throw new Error('--data-dir needs a folder');
  return resolve(dir);
}

const say = (line = '') => process.stdout.write(`${line}\n`);

async function startOptician(trustedVault: string) {
  let handler: ((request: Request) => Response | undefined) | undefined;
  const server = createAdaptorServer({
    fetch: (request: Request) => handler?.(request) ?? new Response(null, { status: 404 }),
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const vendorId = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webkey-vendor.json`;
  const { privateJwk, publicJwk } = await generateVendorKeyPair();
  handler = vendorMetadataHandler({
    vendorId,
    name: 'Acme Optics (demo)',
    publicKeys: [publicJwk],
  });
  const client = new VendorClient({
    clientId: vendorId,
    privateKey: privateJwk,
    trust: { issuers: [trustedVault] },
  });
  return { vendorId, client, stop: () => new Promise<void>((done) => server.close(() => done())) };
}

async function main(): Promise<void> {
  const dataDir = dataDirFrom(process.argv.slice(2));
  // Development mode lets the vault accept a vendor served over http on 127.0.0.1.
  const vault = await startVault(
    {
      host: '127.0.0.1',
      port: 0,
      dataDir,
      database: { kind: 'sqlite', file: join(dataDir, 'vault.sqlite') },
      sessionTtlSeconds: 3600,
      devMode: true,
    },
    { logger: silentLogger },
  );
  const optician = await startOptician(vault.url);
  try {
    say(`Vault       ${vault.url}   (data in ${dataDir})`);
    say(`Vendor      ${optician.vendorId}`);
    say();

    const customer = new VaultCustomer(vault.url);
    const { recoveryCodes } = await customer.signUp('demo@example.com');
    say(
      `1. Signed up a demo customer with a passkey (recovery code 1 of ${recoveryCodes.length}: ${recoveryCodes[0]})`,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/profile',
      { legalName: 'Dana Demo', birthDate: '1988-07-14' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['12 Harbour Lane'], locality: 'Portsmouth', postalCode: 'PO1 2AB', country: 'GB' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/insurance.primary',
      { insurer: 'Harbour Health', memberId: 'HH-4471-0923', plan: 'Vision Plus' },
      201,
    );
    say('2. Stored a profile, a home address and an insurance policy (encrypted at rest)');

    const issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      {
        scope: ['address.home', 'insurance.primary', 'profile.age_over_18'],
        purpose: 'New glasses at Acme Optics',
        audience: optician.vendorId,
      },
      201,
    );
    say(`3. Issued a web key for ${issued.scope.join(', ')}`);
    say(
      `   short code ${issued.shortCode}, QR version ${issued.qr.version}, expires ${issued.expiresAt}`,
    );

    const redemption = await optician.client.redeem(issued.key);
    say('4. The optician redeemed it through the SDK and got exactly:');
    say(`   address.home       ${JSON.stringify(redemption.field('address.home'))}`);
    say(`   insurance.primary  ${JSON.stringify(redemption.field('insurance.primary'))}`);
    say(
      `   profile.age_over_18 = ${redemption.claim('profile.age_over_18')}   (no birth date disclosed)`,
    );
    say(`   customer as this vendor knows them: ${redemption.subject}`);

    try {
      await optician.client.redeem(issued.key);
      throw new Error('the second redemption was not refused');
    } catch (error) {
      if (!(error instanceof WebkeyError)) throw error;
      say(`5. A second redemption was refused: ${error.name} (request ${error.requestId})`);
    }

    const { entries } = await customer.expect<{ entries: AuditEntry[] }>(
      'GET',
      '/api/v1/audit?limit=100',
    );
    say('6. The customer’s audit log:');
    for (const entry of [...entries].reverse()) {
      const who = entry.vendor ? ` by ${entry.vendor.name}` : '';
      const what = entry.paths.length ? ` [${entry.paths.join(', ')}]` : '';
      const why = entry.reason ? ` (${entry.reason})` : '';
      say(`   #${entry.seq} ${entry.at} ${entry.event}${who}${what}${why}`);
    }
    const exported = await customer.expect<unknown>('GET', '/api/v1/audit/export');
    const verification = await verifyAuditExport(exported);
    if (!verification.ok)
      throw new Error(`audit log did not verify: ${verification.firstBad.reason}`);
    say(
      `7. Exported the log and verified its hash chain and signed checkpoint: ${verification.entries} entries, verified`,
    );
  } finally {
    await optician.stop();
    await vault.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
