/**
 * The SDK as a vendor installs it: `pnpm pack` of @webkey/protocol and @webkey/vendor-sdk,
 * unpacked into a folder of its own next to jose and zod only, then used with plain Node (no
 * TypeScript loader) and type-checked as a consumer's code.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOME, harness } from './test-support.ts';

const run = promisify(execFile);
const SDK_DIR = fileURLToPath(new URL('..', import.meta.url));
const PROTOCOL_DIR = fileURLToPath(new URL('../../packages/protocol', import.meta.url));
const requireFromSdk = createRequire(join(SDK_DIR, 'package.json'));
const TSC = requireFromSdk.resolve('typescript/bin/tsc');

/** The pnpm running this test (its scripts set npm_execpath), else the one on PATH. */
function pnpmCommand(): [string, string[]] {
  const execPath = process.env.npm_execpath;
  return execPath?.includes('pnpm') ? [process.execPath, [execPath]] : ['pnpm', []];
}

/** Only PATH and HOME: no NODE_OPTIONS, so no loader a test runner may have set. */
const plainEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };

interface Manifest {
  main: string;
  types: string;
  dependencies?: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  bin?: Record<string, string>;
}

let work: string;
let consumer: string;
const manifests: Record<string, Manifest> = {};
const packedFiles: Record<string, string[]> = {};

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

/** Packs a workspace package and unpacks it as node_modules/<name> of the consumer. */
async function install(packageDir: string, name: string): Promise<void> {
  const [command, prefix] = pnpmCommand();
  const { stdout } = await run(command, [...prefix, 'pack', '--pack-destination', work], {
    cwd: packageDir,
  });
  const tarball = stdout.trim().split('\n').at(-1)!;
  const target = join(consumer, 'node_modules', name);
  await mkdir(target, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  manifests[name] = JSON.parse(await readFile(join(target, 'package.json'), 'utf8'));
  packedFiles[name] = await filesUnder(target);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'webkey-package-'));
  consumer = join(work, 'consumer');
  await mkdir(join(consumer, 'node_modules'), { recursive: true });
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ type: 'module' }));
  await install(PROTOCOL_DIR, '@webkey/protocol');
  await install(SDK_DIR, '@webkey/vendor-sdk');
  // The run-time dependencies, as a package manager would install them.
  for (const dependency of ['jose', 'zod']) {
    const resolved = dirname(requireFromSdk.resolve(`${dependency}/package.json`));
    await symlink(resolved, join(consumer, 'node_modules', dependency));
  }
}, 180_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed SDK', () => {
  it('depends at run time on jose, zod and @webkey/protocol only, by version', () => {
    expect(Object.keys(manifests['@webkey/vendor-sdk']!.dependencies ?? {}).sort()).toEqual([
      '@webkey/protocol',
      'jose',
      'zod',
    ]);
    expect(Object.keys(manifests['@webkey/protocol']!.dependencies ?? {}).sort()).toEqual([
      'jose',
      'zod',
    ]);
    for (const manifest of Object.values(manifests)) {
      for (const version of Object.values(manifest.dependencies ?? {})) {
        expect(version).toMatch(/^\^?\d+\.\d+\.\d+$/);
      }
    }
  });

  it('exports compiled JavaScript with declarations, and ships no sources or tests', () => {
    for (const [name, manifest] of Object.entries(manifests)) {
      const files = packedFiles[name]!;
      // For tools that read main and types rather than exports (TypeScript's node10 resolution).
      expect(manifest.main).toBe(manifest.exports['.']!.default);
      expect(manifest.types).toBe(manifest.exports['.']!.types);
      for (const target of Object.values(manifest.exports)) {
        expect(files).toContain(target.default.replace(/^\.\//, ''));
        expect(files).toContain(target.types.replace(/^\.\//, ''));
        expect(target.default).toMatch(/\.js$/);
      }
      expect(files.filter((file) => /\.ts$/.test(file) && !/\.d\.ts$/.test(file))).toEqual([]);
      expect(files.filter((file) => /\.test\.|test-support/.test(file))).toEqual([]);
    }
  });

  it('redeems a key with plain Node, using its own test vault', async () => {
    const script = join(consumer, 'redeem.mjs');
    await writeFile(
      script,
      `import { VendorClient } from '@webkey/vendor-sdk';
import { startTestVault, testVendor } from '@webkey/vendor-sdk/testing';
const vendor = await testVendor();
const vault = await startTestVault({
  vendorKeys: vendor.vendorKeys,
  records: { 'address.home': ${JSON.stringify(HOME)} },
});
try {
  const client = new VendorClient({
    clientId: vendor.vendorId,
    privateKey: vendor.privateJwk,
    trust: { issuers: [vault.issuer] },
  });
  const { key } = await vault.issueWebkey({ scope: ['address.home'] });
  const redemption = await client.redeem(key);
  process.stdout.write(JSON.stringify(redemption.fields));
} finally {
  await vault.close();
}
`,
    );
    const { stdout } = await run(process.execPath, [script], { cwd: consumer, env: plainEnv });
    expect(JSON.parse(stdout)['address.home'].value).toEqual(HOME);
  }, 30_000);

  it('runs webkey-pos with plain Node', async () => {
    const h = await harness({ records: { 'address.home': HOME } });
    const keyFile = join(work, 'vendor-key.json');
    await writeFile(keyFile, JSON.stringify(h.vendor.privateJwk));
    const { key } = await h.vault.issueWebkey({ scope: ['address.home'] });
    const bin = join(
      consumer,
      'node_modules/@webkey/vendor-sdk',
      manifests['@webkey/vendor-sdk']!.bin!['webkey-pos']!,
    );
    const { stdout } = await run(process.execPath, [bin, 'redeem', key], {
      cwd: consumer,
      env: {
        ...plainEnv,
        WEBKEY_POS_CLIENT_ID: h.vendor.vendorId,
        WEBKEY_POS_KEY_FILE: keyFile,
        WEBKEY_POS_TRUSTED_ISSUERS: h.vault.issuer,
      },
    });
    expect(JSON.parse(stdout).fields['address.home']).toEqual(HOME);
  }, 30_000);

  it("type-checks a consumer's code under nodenext, and refuses a misuse", async () => {
    const typecheck = (file: string) =>
      run(
        process.execPath,
        [
          TSC,
          '--noEmit',
          '--strict',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--target',
          'es2022',
          '--types',
          'node',
          '--typeRoots',
          dirname(dirname(requireFromSdk.resolve('@types/node/package.json'))),
          file,
        ],
        { cwd: consumer, env: plainEnv },
      );
    await writeFile(
      join(consumer, 'good.ts'),
      `import { VendorClient, WebkeyError, type Redemption } from '@webkey/vendor-sdk';
import { startTestVault } from '@webkey/vendor-sdk/testing';
import { redemptionResponseSchema } from '@webkey/protocol';
export async function subjectOf(client: VendorClient, key: string): Promise<string> {
  const redemption: Redemption = await client.redeem(key);
  void startTestVault;
  void redemptionResponseSchema;
  return redemption.subject;
}
export const isWebkeyError = (error: unknown) => error instanceof WebkeyError;
`,
    );
    await writeFile(
      join(consumer, 'bad.ts'),
      `import { VendorClient } from '@webkey/vendor-sdk';
export async function subjectOf(client: VendorClient): Promise<number> {
  return (await client.redeem('key')).subject;
}
`,
    );
    await expect(typecheck('good.ts')).resolves.toBeDefined();
    await expect(typecheck('bad.ts')).rejects.toMatchObject({
      stdout: expect.stringContaining("Type 'string' is not assignable to type 'number'"),
    });
  }, 60_000);
});
