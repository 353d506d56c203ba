import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freshBundle } from '../bin/bundle.js';

describe('the vault bundle (vault/bin/bundle.js)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webkey-bundle-'));
  // Inside the vault package (under its gitignored dist/): the bundle's npm imports resolve from
  // the package's node_modules, as they do for vault/dist/webkey-vault.mjs.
  mkdirSync(join(import.meta.dirname, '..', 'dist'), { recursive: true });
  const outDir = mkdtempSync(join(import.meta.dirname, '..', 'dist', 'test-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  });

  it('builds a bundle of the CLI that loads and runs', async () => {
    const bundle = await freshBundle(outDir);
    expect(bundle).toBe(join(outDir, 'webkey-vault.mjs'));
    expect(statSync(`${bundle}.map`).isFile()).toBe(true);
    const { main } = (await import(pathToFileURL(bundle!).href)) as {
      main: (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;
    };
    const written: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['--help'], {})).toBe(0);
    } finally {
      write.mockRestore();
    }
    expect(written.join('')).toContain('Usage: webkey-vault');
  });

  it('keeps a bundle that is newer than its sources, and rebuilds an older one', async () => {
    const bundle = join(outDir, 'webkey-vault.mjs');
    const builtAt = statSync(bundle).mtimeMs;
    await freshBundle(outDir);
    expect(statSync(bundle).mtimeMs).toBe(builtAt);
    utimesSync(bundle, new Date(2000, 0, 1), new Date(2000, 0, 1));
    const before = Date.now();
    await freshBundle(outDir);
    expect(statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
  });

  it('answers undefined, saying why, when the bundle cannot be written', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const said: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      said.push(String(chunk));
      return true;
    });
    try {
      expect(await freshBundle(join(blocker, 'dist'))).toBeUndefined();
    } finally {
      write.mockRestore();
    }
    expect(said.join('')).toMatch(/running from source, the bundle could not be built/);
  });
});
