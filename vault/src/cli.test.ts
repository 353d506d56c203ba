import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'bin', 'webkey-vault.js');

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

describe('webkey-vault CLI', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'webkey-cli-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('runs from its bundle, rebuilt once the sources are newer, serving the web app from it', async () => {
    const bundle = join(import.meta.dirname, '..', 'dist', 'webkey-vault.mjs');
    await run(['--help'], {});
    // Make the bundle older than every source file: the next start must build it again.
    utimesSync(bundle, new Date(2000, 0, 1), new Date(2000, 0, 1));
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', WEBKEY_DATA_DIR: tempDir(), WEBKEY_PORT: '0' },
    });
    children.push(child);
    const url = await waitForUrl(child);
    expect(statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(started - 1000);
    // The web app's files are found from the bundle too.
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const script = await fetch(`${url}/assets/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  it('serves: prints its URL, answers /healthz, and stops on SIGTERM', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', WEBKEY_DATA_DIR: dataDir, WEBKEY_PORT: '0' },
    });
    children.push(child);
    const url = await waitForUrl(child);
    expect(url).toMatch(/^http:\/\/localhost:\d+$/);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'vault.sqlite')).isFile()).toBe(true);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('migrates, and says so when already up to date', async () => {
    const dataDir = tempDir();
    const first = await run(['migrate'], { WEBKEY_DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      'applied: 2026-11-23T1800-accounts, 2026-11-23T1801-records, 2026-11-23T1900-federation, 2026-11-23T2000-rate-limits, 2026-11-23T2100-grants, 2026-11-23T2200-webhooks, 2026-11-23T2300-deposits',
    );
    const second = await run(['migrate'], { WEBKEY_DATA_DIR: dataDir });
    expect(second.stdout).toContain('database is up to date');
  });

  it('refuses to start with a bad variable, naming it', async () => {
    const result = await run(['serve'], { WEBKEY_DATA_DIR: tempDir(), WEBKEY_PORT: 'http' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('WEBKEY_PORT');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an unknown command with usage', async () => {
    const result = await run(['frobnicate'], { WEBKEY_DATA_DIR: tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: webkey-vault');
  });
});
