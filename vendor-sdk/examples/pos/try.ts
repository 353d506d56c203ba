/**
 * `pnpm try`: a vault and the demo point of sale on this machine, to try Webkey by hand.
 *
 *   pnpm try [--data-dir DIR]
 *
 * The vault (development mode, SQLite in DIR, default ./.webkey-try/) listens on WEBKEY_PORT
 * (default 7420), the POS on WEBKEY_POS_PORT (default 7430), both on 127.0.0.1. The POS trusts
 * that vault and keeps its key in DIR/pos-key.json. Ctrl-C stops both.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startVault, type VaultDependencies } from '@webkey/vault';
import { startPos } from './server.ts';

const say = (line = '') => process.stdout.write(`${line}\n`);

function dataDirFrom(argv: string[]): string {
  const index = argv.indexOf('--data-dir');
  if (index === -1) return resolve('.webkey-try');
  const dir = argv[index + 1];
  if (!dir || dir.startsWith('--')) throw new Error('--data-dir needs a folder');
  return resolve(dir);
}

function portFrom(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${name} must be a port number (0 to 65535), not ${text}`);
  }
  return port;
}

/** The vault's warnings and errors on stderr; its routine lines would drown the instructions. */
const quietLogger: NonNullable<VaultDependencies['logger']> = {
  info() {},
  warn: (event, fields) =>
    process.stderr.write(`vault warning: ${event} ${JSON.stringify(fields ?? {})}\n`),
  error: (event, fields) =>
    process.stderr.write(`vault error: ${event} ${JSON.stringify(fields ?? {})}\n`),
};

function explainListenError(error: unknown, what: string, variable: string): never {
  if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
    throw new Error(`${what}: the port is already in use; pick another with ${variable}=<port>`);
  }
  throw error;
}

async function main(): Promise<void> {
  const dataDir = dataDirFrom(process.argv.slice(2));
  const fresh = !existsSync(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Keep the try-out's database and keys out of version control.
  if (fresh) writeFileSync(join(dataDir, '.gitignore'), '*\n');

  const vault = await startVault(
    {
      host: '127.0.0.1',
      port: portFrom('WEBKEY_PORT', 7420),
      dataDir,
      database: { kind: 'sqlite', file: join(dataDir, 'vault.sqlite') },
      sessionTtlSeconds: 12 * 3600,
      // Development mode: the vault accepts the POS's http://127.0.0.1 vendor id.
      devMode: true,
    },
    { logger: quietLogger },
  ).catch((error: unknown) => explainListenError(error, 'vault', 'WEBKEY_PORT'));

  const pos = await startPos({
    port: portFrom('WEBKEY_POS_PORT', 7430),
    host: '127.0.0.1',
    name: process.env.WEBKEY_POS_NAME || 'Acme Optics',
    trust: { issuers: [vault.url] },
    devHttp: true,
    keyFile: join(dataDir, 'pos-key.json'),
  }).catch(async (error: unknown) => {
    await vault.close();
    return explainListenError(error, 'POS', 'WEBKEY_POS_PORT');
  });

  say(`Vault         ${vault.url}   (development mode, data in ${dataDir})`);
  say(`Point of sale ${pos.url}   (vendor id ${pos.vendorId})`);
  say();
  say('How to try it:');
  say(`  1. Open the vault at ${vault.url} and create an account (your browser makes a passkey).`);
  say('  2. Add your details: a home address, an insurance card, your date of birth.');
  say('  3. Tap "Hand over", pick what to share, and create the key.');
  say(`  4. Open the counter at ${pos.url}, type the short code (or paste the web key),`);
  say('     and press "Read details": the intake form fills with what you shared.');
  say(
    "  5. Read the same key again: the counter refuses it. Your vault's activity page shows both.",
  );
  say();
  say('Ctrl-C stops both.');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('\nStopping…');
    await Promise.allSettled([pos.stop(), vault.close()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`pnpm try: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
